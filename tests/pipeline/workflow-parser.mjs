// Parses GitHub Actions workflows with GitHub's own parser, @actions/workflow-parser
// (the one behind the Actions VS Code extension and language server), then converts
// each into its workflow template as the service does, which checks what the schema
// alone does not (job ids in `needs`, expressions, cron syntax, …).
// Usage: node workflow-parser.mjs FILE...
// Prints a JSON array of {file, message}; exit 0. Exit 2 when the package is missing
// ("Cannot find module") or on any other failure.
// The package is ESM-only, so NODE_PATH (which `import` ignores) is searched by hand
// for it; its JSON imports need the hooks in json-hooks.mjs.
import { existsSync, readFileSync } from "node:fs";
import { register } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

register("./json-hooks.mjs", import.meta.url);

function locate(name) {
  const dirs = (process.env.NODE_PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const manifest = path.join(dir, name, "package.json");
    if (existsSync(manifest)) {
      const entry = JSON.parse(readFileSync(manifest, "utf8")).exports["."].import;
      return pathToFileURL(path.join(dir, name, entry)).href;
    }
  }
  throw new Error(`Cannot find module '${name}' in NODE_PATH (${dirs.join(", ") || "unset"})`);
}

try {
  const parser = await import(locate("@actions/workflow-parser"));
  const trace = new parser.NoOperationTraceWriter();
  const findings = [];
  for (const file of process.argv.slice(2)) {
    const parsed = parser.parseWorkflow({ name: file, content: readFileSync(file, "utf8") }, trace);
    for (const error of parsed.context.errors.getErrors()) {
      findings.push({ file, message: error.message });
    }
    if (parsed.value === undefined || parsed.context.errors.count > 0) continue;
    const template = await parser.convertWorkflowTemplate(parsed.context, parsed.value);
    for (const error of template.errors ?? []) {
      findings.push({ file, message: error.Message ?? error.message ?? String(error) });
    }
    if (!template.jobs || template.jobs.length === 0) {
      findings.push({ file, message: "the workflow converts to no jobs" });
    }
  }
  console.log(JSON.stringify(findings));
} catch (error) {
  console.error(String(error?.stack ?? error));
  process.exit(2);
}
