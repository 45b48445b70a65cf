# -DKITE_SANITIZE=address,undefined  or  -DKITE_SANITIZE=thread
if(KITE_SANITIZE)
  add_compile_options(-fsanitize=${KITE_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${KITE_SANITIZE})
  add_compile_definitions(KITE_SANITIZED=1)
endif()
