# Per-file ISA flags: the default build has no -march=native; kernels for wider
# ISAs live in *_avx2.c / *_avx512.c and are chosen at run time (STYLE.md §9).
function(kite_simd_flags)
  foreach(f ${ARGN})
    if(f MATCHES "_avx512\\.c$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS
        "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mavx512vpopcntdq;-mavx2;-mfma;-mf16c;-mbmi2;-mpopcnt")
    elseif(f MATCHES "_avx2\\.c$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mpopcnt")
    endif()
  endforeach()
endfunction()
