// Mounts GraphiQL on #graphiql, wired to this server's /graphql (same origin, no CDN).
(function () {
  var fetcher = GraphiQL.createFetcher({ url: new URL('/graphql', window.location.href).href });
  var defaultQuery = [
    '# Articles over the REST API. Press the run button (or Ctrl-Enter).',
    '{',
    '  getArticles(limit: 10) {',
    '    success',
    '    count',
    '    data { id title }',
    '  }',
    '}',
    ''
  ].join('\n');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: defaultQuery,
    defaultEditorToolsVisibility: true
  }));
})();
