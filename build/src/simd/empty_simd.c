typedef int kite_empty_simd;
