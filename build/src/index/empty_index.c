typedef int kite_empty_index;
