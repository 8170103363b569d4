// Drives the GraphiQL page of a running `articles` GraphQL server in Debian's headless chromium.
//
// Usage: node tests/browser/graphiql.mjs <base-url> <expected-title>
//
// Loads <base-url>/graphql, waits for GraphiQL to introspect the schema, puts a query into the
// editor, runs it with the run button, and reads the result pane. Every request the browser makes
// is recorded; any that leaves 127.0.0.1 fails the run. Prints one JSON object on stdout:
// {"result": <parsed result pane>, "requests": ["GET http://127.0.0.1:.../graphql", ...]}.
// Exits 1 with a message on stderr when something is wrong.
import { chromium } from 'playwright-core';

const [base, expectedTitle] = process.argv.slice(2);
if (!base || !expectedTitle) {
  console.error('usage: node graphiql.mjs <base-url> <expected-title>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const QUERY = '{ getArticles { success count data { id title } } }';
const TIMEOUT = 30_000;

function leavesLoopback(url) {
  const parsed = new URL(url);
  if (parsed.protocol === 'data:' || parsed.protocol === 'blob:' || parsed.protocol === 'about:') {
    return false;
  }
  return parsed.hostname !== '127.0.0.1';
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
const requests = [];
const problems = [];
try {
  const context = await browser.newContext();
  context.on('request', (request) => requests.push(`${request.method()} ${request.url()}`));
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
  );

  // GraphiQL introspects the schema first; its answer must carry the schema.
  const introspection = page.waitForResponse(
    (response) => response.url().endsWith('/graphql') && response.request().method() === 'POST',
    { timeout: TIMEOUT },
  );
  await page.goto(new URL('/graphql', base).href, { waitUntil: 'load', timeout: TIMEOUT });
  const schema = await (await introspection).json();
  if (!schema?.data?.__schema) {
    throw new Error(`introspection from the page failed: ${JSON.stringify(schema).slice(0, 500)}`);
  }

  // Type the query as a user would: select the default query, replace it keystroke by keystroke
  // (the editor closes brackets itself and types over them).
  const editor = '.graphiql-query-editor .CodeMirror';
  await page.waitForSelector(editor, { timeout: TIMEOUT });
  await page.click(editor);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(QUERY);
  await page.keyboard.press('Escape'); // close an autocomplete list, if one is open
  const typed = await page.evaluate(
    (selector) => document.querySelector(selector).CodeMirror.getValue(),
    editor,
  );
  if (typed !== QUERY) {
    throw new Error(`the editor holds ${JSON.stringify(typed)}, not the typed query`);
  }
  await page.click('.graphiql-execute-button', { timeout: TIMEOUT });

  const resultPane = '.graphiql-response .CodeMirror';
  await page.waitForFunction(
    ([selector, title]) => {
      const pane = document.querySelector(selector);
      return pane && pane.CodeMirror.getValue().includes(title);
    },
    [resultPane, expectedTitle],
    { timeout: TIMEOUT },
  );
  const text = await page.evaluate(
    (selector) => document.querySelector(selector).CodeMirror.getValue(),
    resultPane,
  );
  const outside = requests.filter((line) => leavesLoopback(line.split(' ')[1]));
  if (outside.length > 0) {
    problems.push(`requests left 127.0.0.1:\n  ${outside.join('\n  ')}`);
  }
  if (problems.length > 0) {
    throw new Error(problems.join('\n'));
  }
  console.log(JSON.stringify({ result: JSON.parse(text), requests }));
} catch (error) {
  console.error(`graphiql.mjs: ${error.message}`);
  console.error(`requests seen:\n  ${requests.join('\n  ')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
