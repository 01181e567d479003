// Starts `detc lsp` for .detc files. The server does the work (diagnostics, hover, definition,
// completion, formatting); this file only launches it. See docs/EDITORS.md.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("detc").get("path", "detc");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "detc",
    "detc",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "detc" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
