# grpc.cmake — the gRPC face's build additions, included by server/CMakeLists.txt
# after kite_server is defined (server/grpc/*.c are already in kite_server's glob).
#
#  * proto/{common,schema,msg,milvus}.proto -> C with protoc-c at build time, into the
#    build tree (nothing generated is committed);
#  * the generated code becomes kite_grpc_proto, built without our -Werror warning
#    set (it is not our code);
#  * kite_server links libprotobuf-c and libnghttp2, and gets KITE_HAVE_GRPC=1 so
#    the listener hands h2c connections to grpc_server_adopt().
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
find_program(KITE_PROTOC_C NAMES protoc-c REQUIRED)

set(KITE_PROTO_DIR ${CMAKE_SOURCE_DIR}/proto)
set(KITE_PROTO_OUT ${CMAKE_BINARY_DIR}/generated/proto)
file(MAKE_DIRECTORY ${KITE_PROTO_OUT})
set(KITE_PROTO_NAMES common schema msg milvus)
set(KITE_PROTO_SRCS)
set(KITE_PROTO_HDRS)
set(KITE_PROTO_FILES)
foreach(p ${KITE_PROTO_NAMES})
  list(APPEND KITE_PROTO_SRCS ${KITE_PROTO_OUT}/${p}.pb-c.c)
  list(APPEND KITE_PROTO_HDRS ${KITE_PROTO_OUT}/${p}.pb-c.h)
  list(APPEND KITE_PROTO_FILES ${KITE_PROTO_DIR}/${p}.proto)
endforeach()
add_custom_command(
  OUTPUT ${KITE_PROTO_SRCS} ${KITE_PROTO_HDRS}
  COMMAND ${KITE_PROTOC_C} --proto_path=${KITE_PROTO_DIR} --c_out=${KITE_PROTO_OUT}
          common.proto schema.proto msg.proto milvus.proto
  DEPENDS ${KITE_PROTO_FILES}
  WORKING_DIRECTORY ${KITE_PROTO_DIR}
  COMMENT "protoc-c: Milvus gRPC messages"
  VERBATIM)

add_library(kite_grpc_proto STATIC ${KITE_PROTO_SRCS})
target_include_directories(kite_grpc_proto PUBLIC ${KITE_PROTO_OUT})
target_link_libraries(kite_grpc_proto PUBLIC PkgConfig::PROTOBUF_C)

target_link_libraries(kite_server PUBLIC kite_grpc_proto PkgConfig::NGHTTP2)
target_compile_definitions(kite_server PUBLIC KITE_HAVE_GRPC=1)
