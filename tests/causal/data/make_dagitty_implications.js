// Records dagitty's minimal testable implications for the DAGs in dagitty_implications.json.
//
// Run from a checkout of jtextor/dagitty (commit 7a657776dc8f5e5ba4e323edb028e2c2aaf29327)
// with jslib/dagitty-node.js built (see make_dagitty_models.js):
//   node make_dagitty_implications.js path/to/dagitty_implications.json
// Each entry's "text" is dagitty model text; "implications" becomes a list of
// [x, y, [separator, ...]] from GraphAnalyzer.listMinimalImplications, each separator a
// sorted list of node names (the R package's impliedConditionalIndependencies(type="all.pairs")).
const fs = require("fs")
const path = process.argv[2]
const { GraphParser, GraphAnalyzer } = require(process.cwd() + "/jslib/dagitty-node.js")
const cases = JSON.parse(fs.readFileSync(path, "utf8"))
for (const c of cases) {
  const g = GraphParser.parseGuess(c.text)
  c.implications = GraphAnalyzer.listMinimalImplications(g, 1e9).map(([x, y, seps]) => [
    x, y, seps.map((s) => s.map((v) => v.id).sort()),
  ])
}
fs.writeFileSync(path, JSON.stringify(cases) + "\n")
