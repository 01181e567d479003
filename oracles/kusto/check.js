#!/usr/bin/env node
// KQL oracle: Microsoft's own Kusto.Language parser and semantic analyser (npm
// @kusto/language-service-next, pinned in package-lock.json), checking many queries in one process.
//
// stdin (JSON):
//   {"database": "db",
//    "tables": {"DeviceNetworkEvents": "(Timestamp:datetime, RemotePort:int, ...)"},
//    "queries": [{"name": "an0379", "text": "DeviceNetworkEvents | where ..."}]}
// stdout (JSON, one document, keys in a fixed order, queries in input order):
//   {"results": [{"name": "an0379", "diagnostics": [
//       {"code": "KS142", "severity": "Error", "category": "Correctness",
//        "message": "...", "start": 10, "end": 19, "snippet": "SentBytes"}]}]}
// start/end are UTF-16 code-unit offsets into the query text, as Kusto.Language reports them;
// snippet is text.slice(start, end), so a caller need not re-index.
// A "tables" entry may instead be a stored function: {"parameters": "(x:int=int(null))",
// "body": "{ T | where ... }"} (an ASIM parser called with named arguments).
// Several databases in one run (two profiles may declare the same table name with different
// columns): "databases": {"kql-defender": {"DeviceNetworkEvents": "(...)"}, ...} instead of
// "tables", and each query names its "database"; a query without one uses "database".
// "analyzers": true also runs Kusto.Language's best-practice analyzers (KustoCodeService
// GetAnalyzerDiagnostics: style and performance advice, severities Warning/Suggestion/...) and adds
// them to each result as "analyzer_diagnostics", in the same shape.
// Each result also has "statements": how many statements Kusto.Language parsed the text into
// (a `//` comment ended early by a line break shows up as an extra statement, with no
// diagnostic). "keywords": true adds a top-level "keywords" list: the text of every keyword
// Kusto.Language knows (SyntaxFacts.Keywords), each with "can_be_identifier"
// (SyntaxFacts.IsKeywordThatCanBeIdentifier), sorted.
// Exit codes: 0 the checks ran (whatever they found), 2 bad input or a missing package.
'use strict';

const path = require('path');
const fs = require('fs');

function fail(message) {
  process.stderr.write(`kusto oracle: ${message}\n`);
  process.exit(2);
}

const pkgDir = path.join(__dirname, 'node_modules', '@kusto', 'language-service-next');
if (!fs.existsSync(path.join(pkgDir, 'Kusto.Language.Bridge.js'))) {
  fail(`${pkgDir} is missing: run scripts/install-oracles.sh`);
}
// The package is a Bridge.NET translation of the C# Kusto.Language: bridge.js defines the runtime
// (the global `Bridge` and `System`), Kusto.Language.Bridge.js then defines the global `Kusto`.
require(path.join(pkgDir, 'bridge.js'));
require(path.join(pkgDir, 'Kusto.Language.Bridge.js'));
const Kusto = globalThis.Kusto;
const { KustoCode, GlobalState } = Kusto.Language;
const { DatabaseSymbol, FunctionSymbol, TableSymbol } = Kusto.Language.Symbols;

function readStdin() {
  return fs.readFileSync(0, 'utf8');
}

let input;
try {
  input = JSON.parse(readStdin());
} catch (e) {
  fail(`stdin is not JSON: ${e.message}`);
}
if (typeof input !== 'object' || input === null) fail('stdin must be a JSON object');
const database = typeof input.database === 'string' ? input.database : 'db';
const queries = input.queries;
if (!Array.isArray(queries)) fail('"queries" must be an array of {"name", "text"}');
let databases = input.databases;
if (databases === undefined) {
  databases = { [database]: input.tables || {} };
} else if (input.tables !== undefined) {
  fail('give "tables" or "databases", not both');
}
if (typeof databases !== 'object' || databases === null || Array.isArray(databases)) {
  fail('"databases" must be an object name -> {table name -> "(col:type, ...)"}');
}

function tableSymbols(tables, dbName) {
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) {
    fail(`database ${dbName}: tables must be an object name -> "(col:type, ...)"`);
  }
  const symbols = [];
  for (const name of Object.keys(tables).sort()) {
    const schema = tables[name];
    if (schema !== null && typeof schema === 'object' && !Array.isArray(schema)) {
      // A stored function (an ASIM parser): {"parameters": "(a:int=int(null), ...)",
      // "body": "{ Rows | where ... }"}, as FunctionSymbol(name, parameterList, body, description).
      if (typeof schema.parameters !== 'string' || typeof schema.body !== 'string') {
        fail(`function ${name}: give "parameters" and "body" as strings`);
      }
      symbols.push(new FunctionSymbol.$ctor16(name, schema.parameters, schema.body, null));
      continue;
    }
    if (typeof schema !== 'string') fail(`table ${name}: schema must be a string "(col:type, ...)"`);
    // TableSymbol(name, schema, description): the schema string is parsed by Kusto.Language itself,
    // which silently turns a type it does not know into `unknown` (and so never reports the column
    // as missing) and mis-splits names with spaces or parentheses. Refuse such a schema here.
    const table = new TableSymbol.$ctor7(name, schema, null);
    const declared = schema.trim().replace(/^\(/, '').replace(/\)$/, '').split(',')
      .map((c) => c.trim()).filter((c) => c.length > 0);
    const got = [];
    for (let k = 0; k < table.Columns.Count; k++) {
      const col = table.Columns.getItem(k);
      got.push(`${col.Name}:${col.Type.Name}`);
    }
    const bad = got.filter((c) => c.endsWith(':unknown'));
    if (got.length !== declared.length || bad.length > 0) {
      fail(`table ${name}: Kusto.Language read the schema as (${got.join(', ')}), not as declared` +
        ` (${declared.join(', ')}); use plain column names and KQL scalar types (string, int, long,` +
        ' real, bool, datetime, timespan, guid, dynamic, decimal)');
    }
    symbols.push(table);
  }
  return symbols;
}

const globalsByDb = {};
for (const dbName of Object.keys(databases).sort()) {
  globalsByDb[dbName] = GlobalState.Default.WithDatabase(
    new DatabaseSymbol(dbName, tableSymbols(databases[dbName], dbName)));
}

function toJson(list, text) {
  const out = [];
  for (let k = 0; k < list.Count; k++) {
    const d = list.getItem(k);
    const start = d.HasLocation ? d.Start : 0;
    const end = d.HasLocation ? d.End : 0;
    out.push({
      code: d.Code,
      severity: d.Severity,
      category: d.Category,
      message: d.Message,
      start,
      end,
      snippet: text.slice(start, end),
    });
  }
  return out;
}

const results = [];
for (const [i, q] of queries.entries()) {
  if (typeof q !== 'object' || q === null || typeof q.text !== 'string') {
    fail(`queries[${i}] must be {"name": string, "text": string}`);
  }
  const name = typeof q.name === 'string' ? q.name : String(i);
  const dbName = typeof q.database === 'string' ? q.database : database;
  const globals = globalsByDb[dbName];
  if (globals === undefined) fail(`queries[${i}]: unknown database ${dbName}`);
  const code = KustoCode.ParseAndAnalyze(q.text, globals);
  const diagnostics = toJson(code.GetDiagnostics(), q.text);
  const statements = code.Syntax.Statements.Count;
  if (input.analyzers === true) {
    const service = new Kusto.Language.Editor.KustoCodeService(code);
    const analyzer_diagnostics = toJson(service.GetAnalyzerDiagnostics(true), q.text);
    results.push({ name, diagnostics, analyzer_diagnostics, statements });
  } else {
    results.push({ name, diagnostics, statements });
  }
}
const output = { results };
if (input.keywords === true) {
  const { SyntaxFacts } = Kusto.Language.Syntax;
  const words = [];
  const e = SyntaxFacts.Keywords.GetEnumerator();
  while (e.moveNext()) {
    words.push({ text: e.Current, can_be_identifier: SyntaxFacts.IsKeywordThatCanBeIdentifier(e.Current) });
  }
  words.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  output.keywords = words;
}
process.stdout.write(JSON.stringify(output) + '\n');
