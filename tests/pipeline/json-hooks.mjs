// Module hooks that let `import x from "./file.json"` (no import attribute) load, as
// @actions/workflow-parser's build does: Node refuses such an import (Node 20, 22:
// ERR_IMPORT_ASSERTION_TYPE_MISSING / ERR_IMPORT_ATTRIBUTE_MISSING). A JSON file is
// handed over as an ES module whose default export is the parsed document.
// Registered by workflow-parser.mjs with module.register(); see that file.
import { readFile } from "node:fs/promises";

export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && new URL(url).pathname.endsWith(".json")) {
    const text = await readFile(new URL(url), "utf8");
    // Parse here so a broken file fails with its own name, not in generated code.
    const value = JSON.parse(text);
    return {
      format: "module",
      source: `export default ${JSON.stringify(value)};\n`,
      shortCircuit: true,
    };
  }
  return nextLoad(url, context);
}
