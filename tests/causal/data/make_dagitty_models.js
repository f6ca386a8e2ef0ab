// Records how dagitty itself reads each model string in dagitty_models.json.
//
// Run from a checkout of jtextor/dagitty (commit 7a657776dc8f5e5ba4e323edb028e2c2aaf29327)
// after building jslib/dagitty-node.js (cat node-pre.js, the graph/*.js files, parser/
// GraphDotParser.js and node-post.js, as jslib/Makefile does) and `npm install underscore`:
//   node make_dagitty_models.js path/to/dagitty_models.json
// For every case it stores dagitty's graph type and its canonical DAG
// (GraphTransformer.canonicalDag: each <-> becomes a latent node L<i>), or dagitty's error.
// Cases with "examples": true are first expanded from gui/js/example-dags.js and written
// as dagitty.net writes them (GraphSerializer.toDot).
const fs = require("fs")
const path = process.argv[2]
const dagitty = require(process.cwd() + "/jslib/dagitty-node.js")
const examples = require(process.cwd() + "/gui/js/example-dags.js")
const { GraphParser, GraphTransformer, GraphSerializer } = dagitty
const cases = JSON.parse(fs.readFileSync(path, "utf8"))

function describe(g) {
  const flags = (v) => ({
    latent: g.isLatentNode(v), selected: g.isSelectedNode(v),
    exposure: g.isSource(v), outcome: g.isTarget(v), adjusted: g.isAdjustedNode(v),
    label: v.label || "",
  })
  const out = {}
  for (const v of g.getVertices()) out[v.id] = flags(v)
  return { nodes: out, edges: g.getEdges().map((e) => [e.v1.id, e.v2.id, e.directed]) }
}

const expanded = []
for (const c of cases) {
  if (c.examples) {
    examples.forEach((ex, i) => {
      const g = ex.d ? GraphParser.parseGuess(ex.d) : GraphParser.parseGuess(ex.v + "\n\n" + ex.e)
      const text = ex.d ? ex.d : GraphSerializer.toDot(g)
      expanded.push({ source: `dagitty.net example ${i} "${ex.l}" (gui/js/example-dags.js` +
        (ex.d ? ")" : ", exported with GraphSerializer.toDot)"), text: text })
    })
  } else if (!c.source.startsWith("dagitty.net example") && c.text !== undefined) {
    expanded.push(c)
  }
}
for (const c of expanded) {
  try {
    const g = GraphParser.parseGuess(c.text)
    c.dagitty = { type: g.getType(), graph: describe(g) }
    const kinds = new Set(g.getEdges().map((e) => e.directed))
    if ([...kinds].every((k) => k === 1 || k === 2)) {
      c.dagitty.canonical = describe(GraphTransformer.canonicalDag(g).g)
    }
  } catch (err) {
    c.dagitty = { error: String(err.message || err) }
  }
}
expanded.push({ examples: true, source: "placeholder: the expander above" })
fs.writeFileSync(path, JSON.stringify(expanded, null, 1) + "\n")
