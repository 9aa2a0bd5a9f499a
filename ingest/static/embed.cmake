# Writes docs_assets.c, the files GET /docs serves, for sluice-ingest: our
# page and initializer (ingest/static/) and Swagger UI from npm's
# swagger-ui-dist, installed by `npm ci` from package-lock.json into
# BINARY_DIR/npm; and the console's files (GET /console: ingest/static/
# console*), which need no npm and so are built in even without it.
# CMakeLists.txt runs it when it configures (as it compiles in
# ingest/openapi.json), with
#   SOURCE_DIR, BINARY_DIR  the repository and the build folder
#   NPM                     npm's path, or a *-NOTFOUND value
#   OMIT_DEV                ON: `npm ci --omit=dev` (no playwright-core)
#   OUT                     the C file to write
#
# It does nothing while its inputs are those of the last complete run (a
# stamp beside OUT), and rewrites OUT only when it changes, so a configure
# with nothing new recompiles nothing.
#
# Without npm, or when `npm ci` fails (no network), the build still succeeds:
# OUT then holds our two files only and says why, sluice-ingest answers
# GET /docs with 404 docs-not-built naming that reason, CMake warns, and the
# next configure (every `make build`) tries again: at once when npm is
# missing, in about 7 s when the registry cannot be reached (npm's retries
# are shortened below from their minute or more; TIMEOUT bounds the rest).
# This runs at configure time rather than as a build rule because make
# treats a rule that ran as changed: a rule left to retry would recompile
# and relink every binary at each build while npm is unavailable.
# Vendoring the dist files instead would put 2 MB of minified JavaScript in
# the repository at every upgrade; the lockfile pins the same bytes by
# integrity hash.
cmake_minimum_required(VERSION 3.18)

set(npm_dir ${BINARY_DIR}/npm)
set(dist ${npm_dir}/node_modules/swagger-ui-dist)
set(stamp ${OUT}.stamp)
file(GLOB ours ${SOURCE_DIR}/ingest/static/*)
set(fingerprint "omit-dev=${OMIT_DEV}")
foreach(input ${SOURCE_DIR}/package.json ${SOURCE_DIR}/package-lock.json ${ours})
  file(SHA256 ${input} sha)
  string(APPEND fingerprint "\n${sha} ${input}")
endforeach()
if(EXISTS ${stamp} AND EXISTS ${OUT} AND EXISTS ${dist}/swagger-ui-bundle.js)
  file(READ ${stamp} last)
  if(last STREQUAL fingerprint)
    return()
  endif()
endif()
file(REMOVE ${stamp})

file(SHA256 ${SOURCE_DIR}/package-lock.json lock_hash)
set(want "${lock_hash} omit-dev=${OMIT_DEV}")
set(installed "")
if(EXISTS ${npm_dir}/installed)
  file(READ ${npm_dir}/installed installed)
endif()
set(missing "")
if(installed STREQUAL want AND EXISTS ${dist}/swagger-ui-bundle.js)
  # This lockfile is installed already (our page changed, or OUT is gone).
elseif(NOT NPM OR NPM MATCHES "-NOTFOUND$")
  set(missing "npm was not found when this sluice-ingest was built")
else()
  message(STATUS "npm ci from package-lock.json into ${npm_dir} (Swagger UI for GET /docs)")
  file(REMOVE ${npm_dir}/installed)
  file(MAKE_DIRECTORY ${npm_dir})
  file(COPY ${SOURCE_DIR}/package.json ${SOURCE_DIR}/package-lock.json DESTINATION ${npm_dir})
  set(args ci --no-audit --no-fund --prefer-offline --fetch-retries=2 --fetch-retry-mintimeout=1000
    --fetch-retry-maxtimeout=5000 --fetch-timeout=60000)
  # No install scripts: neither package needs one, and swagger-ui-dist's
  # dependency @scarf/scarf would report the install to its own server.
  list(APPEND args --ignore-scripts)
  if(OMIT_DEV)
    list(APPEND args --omit=dev)
  endif()
  execute_process(COMMAND ${NPM} ${args} WORKING_DIRECTORY ${npm_dir} TIMEOUT 300
    RESULT_VARIABLE rc OUTPUT_FILE ${npm_dir}/npm-ci.log ERROR_FILE ${npm_dir}/npm-ci.log)
  if(rc EQUAL 0 AND EXISTS ${dist}/swagger-ui-bundle.js)
    file(WRITE ${npm_dir}/installed "${want}")
  else()
    set(missing "npm ci failed when this sluice-ingest was built (${rc}; see ${npm_dir}/npm-ci.log)")
  endif()
endif()

# {URL segment under /docs/ ("" is /docs itself), file, media type}; text is
# served as UTF-8.
set(assets
  "|${SOURCE_DIR}/ingest/static/docs.html|text/html"
  "swagger-initializer.js|${SOURCE_DIR}/ingest/static/swagger-initializer.js|text/javascript")
if(missing STREQUAL "")
  # The Apache-2.0 LICENSE and NOTICE of Swagger UI, and the licences of what
  # its bundle contains, travel with the binary that embeds them.
  list(APPEND assets
    "swagger-ui.css|${dist}/swagger-ui.css|text/css"
    "swagger-ui-bundle.js|${dist}/swagger-ui-bundle.js|text/javascript"
    "favicon-32x32.png|${dist}/favicon-32x32.png|image/png"
    "LICENSE|${dist}/LICENSE|text/plain"
    "NOTICE|${dist}/NOTICE|text/plain"
    "swagger-ui-bundle.js.LICENSE.txt|${dist}/swagger-ui-bundle.js.LICENSE.txt|text/plain")
  file(READ ${dist}/package.json manifest)
  string(JSON version GET "${manifest}" version)
  set(origin "swagger-ui-dist ${version}")
else()
  message(WARNING "sluice-ingest is built without Swagger UI: ${missing}. GET /docs will answer "
    "404 docs-not-built; /openapi.json is served as usual. The next configure tries again.")
  set(origin "")
endif()

# The console: {URL segment under /console/, file, type}, as above.
set(console_assets "|${SOURCE_DIR}/ingest/static/console.html|text/html")
file(GLOB console_files ${SOURCE_DIR}/ingest/static/console*.css ${SOURCE_DIR}/ingest/static/console*.js
  ${SOURCE_DIR}/ingest/static/console*.svg)
list(SORT console_files)
foreach(path ${console_files})
  get_filename_component(name ${path} NAME)
  if(name MATCHES "\\.css$")
    list(APPEND console_assets "${name}|${path}|text/css")
  elseif(name MATCHES "\\.svg$")
    list(APPEND console_assets "${name}|${path}|image/svg+xml")
  else()
    list(APPEND console_assets "${name}|${path}|text/javascript")
  endif()
endforeach()

set(arrays "")
set(rows "")
set(console_rows "")
set(i 0)
foreach(asset IN LISTS assets console_assets)
  string(REPLACE "|" ";" parts "${asset}")
  list(GET parts 0 name)
  list(GET parts 1 path)
  list(GET parts 2 type)
  if(type MATCHES "^text/")
    string(APPEND type "; charset=utf-8")
  endif()
  file(READ ${path} hex HEX)
  file(SHA256 ${path} sha)
  string(SUBSTRING ${sha} 0 20 etag)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND arrays "static const unsigned char asset_${i}[] = {${bytes}0x00};\n")
  set(row "    {\"${name}\", \"${type}\", \"\\\"${etag}\\\"\", asset_${i}, ${len}},\n")
  if(asset IN_LIST console_assets)
    string(APPEND console_rows "${row}")
  else()
    string(APPEND rows "${row}")
  endif()
  math(EXPR i "${i} + 1")
endforeach()

string(REPLACE "\\" "\\\\" missing_c "${missing}")
string(REPLACE "\"" "\\\"" missing_c "${missing_c}")
file(WRITE ${OUT}.new "/* Generated by ingest/static/embed.cmake: the files of GET /docs and GET /console. */
#include \"docs_assets.h\"

${arrays}
const struct docs_asset docs_assets[] = {
${rows}    {NULL, NULL, NULL, NULL, 0},
};
const struct docs_asset console_assets[] = {
${console_rows}    {NULL, NULL, NULL, NULL, 0},
};
const char docs_assets_missing[] = \"${missing_c}\";
const char docs_assets_origin[] = \"${origin}\";
")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.new ${OUT})
file(REMOVE ${OUT}.new)
if(missing STREQUAL "")
  file(WRITE ${stamp} "${fingerprint}")
endif()
