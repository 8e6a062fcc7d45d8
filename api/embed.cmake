# embed.cmake: writes the file IN as a C array (lt_api_openapi, NUL-terminated)
# into OUT, so that `lienthong api` serves the OpenAPI document of the
# repository without reading files at run time.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
file(WRITE ${OUT} "/* Generated from docs/api/openapi.json by api/embed.cmake. */\n"
  "const char lt_api_openapi[] = {${body}0x00};\n"
  "const unsigned long lt_api_openapi_len = ${n};\n")
