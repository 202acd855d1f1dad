"""Links between images (exact, pixel-identical, near-duplicate, same session, same group).

To be written. Contract used by rules and by `pitfalls split`:

- `links(ctx) -> pd.DataFrame` with columns `i`, `j` (row positions in `ctx.table`, i < j),
  `kind` (one of "bytes", "pixels", "near", "session", "group"), `score` (float, 1.0 for exact),
  and `evidence` (short text, e.g. "same camera, 4 s apart, consecutive names").
  Computed once per context via `ctx.derived("links", ...)`.
- `components(ctx, kinds) -> np.ndarray` of a component id per row: connected components of the
  links of the given kinds (rows with no link get their own id).
"""
