"""The artifact bundle that crosses from training to serving (docs/BUNDLE.md).

`bundle.format` (version, file names, hashing, `BundleError`), `bundle.writer` (the one writer),
`bundle.reader` (load and verify). Import-free, so `import bundle.format` pulls in no torch.
"""
