typedef int kite_empty_expr;
