# The Node addon on Node-API: the SWIG wrapper (gen/tikv_wrap.cxx, generated
# from swig/tikv.i by scripts/generate.js; shipped in the npm tarball) and the
# completion bridge (swig/bridge.cc), linked against the static C libraries
# that `make lib mock` builds in build-c/. One binary serves every Node with
# Node-API version NAPI_VERSION or later (package.json "binary.napi_versions").
#
# Built by scripts/build.js (`npm install`, `npm run build`), which passes the
# headers of the running node as --nodedir. node-gyp owns build/ (`node-gyp
# rebuild` deletes it); the C build lives in build-c/ and build-asan/.
#
# The C libraries are taken from build-c/ unless `--tikv_lib_dir=DIR` is
# given to node-gyp configure (scripts/build.js: TIKV_LIB_DIR=DIR).
# No -std flag: Node's common.gypi sets the standard its headers need; the
# wrapper, node-addon-api and the bridge need C++17 or later.
{
  "variables": {
    "tikv_lib_dir%": "<(module_root_dir)/build-c"
  },
  "targets": [
    {
      "target_name": "tikv",
      "sources": ["gen/tikv_wrap.cxx", "swig/bridge.cc"],
      "include_dirs": [
        "include",
        "swig",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_VERSION=6"],
      "cflags_cc": [
        "-fno-exceptions",
        "-Wno-unused-function",
        "-Wno-unused-parameter",
        "-Wno-unused-variable",
        "-Wno-unused-but-set-variable",
        "-Wno-missing-field-initializers"
      ],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
      "libraries": [
        "<(tikv_lib_dir)/libtikvmock.a",
        "<(tikv_lib_dir)/libtikv.a",
        "<!@(pkg-config --libs grpc libprotobuf-c)",
        "-lm",
        "-lpthread"
      ]
    }
  ]
}
