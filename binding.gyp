# The Node addon: the SWIG wrapper (generated from swig/tikv.i into
# swig/tikv_wrap.cxx by `npm run build:swig`) with the completion bridge,
# linked against the static C libraries built by `make lib mock`.
#
# Build with `node-gyp configure build --nodedir=/usr` (what `npm install`
# runs). Note that `node-gyp rebuild` first deletes build/, where the C
# libraries live too; run `make -j2 lib mock` again after it.
#
# The C libraries are taken from build/ unless `--tikv_lib_dir=DIR` is given
# to node-gyp configure (e.g. DIR=build-asan).
{
  "variables": {
    "tikv_lib_dir%": "<(module_root_dir)/build"
  },
  "targets": [
    {
      "target_name": "tikv",
      "sources": ["swig/tikv_wrap.cxx"],
      "include_dirs": ["include"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": [
        "-std=gnu++17",
        "-Wno-unused-function",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "-Wno-cast-function-type",
        "-Wno-deprecated-declarations"
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
