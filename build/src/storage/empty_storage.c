typedef int kite_empty_storage;
