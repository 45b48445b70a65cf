typedef int kite_empty_db;
