//! The Pentaho transformation and the WSO2 Micro Integrator API in integration/ cannot drift from
//! the REST API: both are well-formed XML with the right root elements, and every HTTP method,
//! path, query parameter and JSON field they use exists in the REST API's /openapi.json (the
//! document the server serves, `articles::rest::OPENAPI_JSON`).
use std::collections::BTreeSet;
use std::path::Path;

use roxmltree::{Document, Node};
use serde_json::Value;

const SYNAPSE: &str = "http://ws.apache.org/ns/synapse";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn spec() -> Value {
    serde_json::from_str(articles::rest::OPENAPI_JSON).unwrap()
}

/// `value` with every `$ref` followed.
fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value["$ref"].as_str() {
        value = spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {reference}"));
    }
    value
}

/// The operation `method` on `path` (an OpenAPI path template), if the document has it.
fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let operation = &spec["paths"][path][method.to_ascii_lowercase()];
    (!operation.is_null()).then_some(operation)
}

/// The document's path template matching a concrete or templated `path` (`/articles/{id}`).
fn path_template(spec: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .find_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let same = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && (s.starts_with('{') || !s.is_empty()))
                });
            same.then(|| template.clone())
        })
}

/// The names of the query parameters of an operation.
fn query_parameters(spec: &Value, operation: &Value) -> BTreeSet<String> {
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(spec, p))
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether the JSON `fields` (a path of property names; arrays are walked through) exist in
/// `schema`.
fn has_fields(spec: &Value, schema: &Value, fields: &[&str]) -> bool {
    let schema = resolve(spec, schema);
    let Some((first, rest)) = fields.split_first() else {
        return true;
    };
    for combined in ["anyOf", "oneOf", "allOf"] {
        if let Some(options) = schema[combined].as_array() {
            if options.iter().any(|s| has_fields(spec, s, fields)) {
                return true;
            }
        }
    }
    if schema["type"] == "array" {
        return has_fields(spec, &schema["items"], fields);
    }
    match schema["properties"].get(*first) {
        Some(property) => has_fields(spec, property, rest),
        None => false,
    }
}

/// The JSON schemas of every documented answer of `operation`.
fn response_schemas<'a>(spec: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    operation["responses"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| &resolve(spec, r)["content"]["application/json"]["schema"])
        .filter(|s| !s.is_null())
        .collect()
}

/// The fields of a JSONPath such as `$.data.inserted`.
fn json_path(path: &str) -> Vec<&str> {
    path.strip_prefix("$.")
        .unwrap_or_else(|| panic!("{path} is not a $.a.b path"))
        .split('.')
        .collect()
}

/// Splits `/articles?updated_since={x}&limit=1000` into the path and the query's names.
fn path_and_query(template: &str) -> (&str, Vec<&str>) {
    let (path, query) = template.split_once('?').unwrap_or((template, ""));
    let names = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split('=').next().unwrap())
        .collect();
    (path, names)
}

/// Asserts that `method path?query` is an operation of the document, with those query
/// parameters; returns the operation.
fn assert_operation<'a>(spec: &'a Value, method: &str, target: &str, file: &str) -> &'a Value {
    let (path, query) = path_and_query(target);
    let template = path_template(spec, path)
        .unwrap_or_else(|| panic!("{file}: {path} is not a path of /openapi.json"));
    let operation = operation(spec, method, &template)
        .unwrap_or_else(|| panic!("{file}: {method} {template} is not in /openapi.json"));
    let known = query_parameters(spec, operation);
    for name in query {
        assert!(
            known.contains(name),
            "{file}: {method} {template} has no query parameter {name} ({known:?})"
        );
    }
    operation
}

fn child_text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .and_then(|c| c.text())
}

fn steps<'a, 'i>(doc: &'a Document<'i>) -> Vec<Node<'a, 'i>> {
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("step"))
        .collect()
}

fn step_named<'a, 'i>(steps: &[Node<'a, 'i>], kind: &str, key: &str, value: &str) -> Node<'a, 'i> {
    *steps
        .iter()
        .find(|s| child_text(**s, "type") == Some(kind) && child_text(**s, key) == Some(value))
        .unwrap_or_else(|| panic!("no {kind} step with {key} {value}"))
}

/// The Pentaho transformation is a PDI transformation whose REST step calls an operation of the
/// document, whose JSON body is built of the request schema's properties, whose answer is read
/// from fields of the documented answers, and whose hops and `${PARAMETERS}` are all declared.
#[test]
fn the_pentaho_transformation_uses_only_the_documented_api() {
    let file = "integration/pentaho/articles-to-rest.ktr";
    let text = read(file);
    let doc = Document::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(doc.root_element().has_tag_name("transformation"));
    let spec = spec();
    let steps = steps(&doc);
    let names: BTreeSet<&str> = steps
        .iter()
        .filter_map(|s| child_text(*s, "name"))
        .collect();
    let hops = doc
        .descendants()
        .filter(|n| n.has_tag_name("hop"))
        .collect::<Vec<_>>();
    assert!(!hops.is_empty());
    for hop in hops {
        for end in ["from", "to"] {
            let step = child_text(hop, end).unwrap();
            assert!(names.contains(step), "{file}: hop to unknown step {step}");
        }
    }
    let declared: BTreeSet<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("parameter"))
        .filter_map(|p| child_text(p, "name"))
        .collect();
    let used = regex::Regex::new(r"\$\{([A-Z_]+)\}").unwrap();
    for found in used.captures_iter(&text) {
        let name = &found[1];
        assert!(
            declared.contains(name),
            "{file}: ${{{name}}} is not a declared parameter"
        );
    }

    let rest_steps: Vec<_> = steps
        .iter()
        .filter(|s| child_text(**s, "type") == Some("Rest"))
        .collect();
    assert_eq!(rest_steps.len(), 1, "{file}: one REST client step");
    let rest = *rest_steps[0];
    let method = child_text(rest, "method").unwrap();
    let url = child_text(rest, "url").unwrap();
    let target = url
        .strip_prefix("${REST_URL}")
        .unwrap_or_else(|| panic!("{file}: {url} does not start with ${{REST_URL}}"));
    let operation = assert_operation(&spec, method, target, file);

    let body_field = child_text(rest, "bodyField").unwrap();
    let body = step_named(&steps, "JsonOutput", "outputValue", body_field);
    let request =
        &resolve(&spec, &operation["requestBody"])["content"]["application/json"]["schema"];
    let bloc = child_text(body, "jsonBloc").unwrap();
    assert!(
        has_fields(&spec, request, &[bloc]),
        "{file}: the request body of {method} {target} has no {bloc}"
    );
    let elements: Vec<&str> = body
        .descendants()
        .filter(|n| n.has_tag_name("field"))
        .filter_map(|f| child_text(f, "element"))
        .collect();
    assert!(elements.len() >= 3);
    for element in elements {
        assert!(
            has_fields(&spec, request, &[bloc, element]),
            "{file}: {bloc} rows of {method} {target} have no field {element}"
        );
    }

    let answer_field = rest
        .descendants()
        .find(|n| n.has_tag_name("result"))
        .and_then(|r| child_text(r, "name"))
        .unwrap();
    let reader = step_named(&steps, "JsonInput", "valueField", answer_field);
    let answers = response_schemas(&spec, operation);
    for path in reader
        .descendants()
        .filter(|n| n.has_tag_name("field"))
        .filter_map(|f| child_text(f, "path"))
    {
        let fields = json_path(path);
        assert!(
            answers.iter().any(|s| has_fields(&spec, s, &fields)),
            "{file}: no documented answer of {method} {target} has {path}"
        );
    }
}

/// The WSO2 API is a Synapse `api`: its pass-through resources are operations of the document
/// (method, path, query parameters), and its `articles-sync` facade calls a documented operation
/// with documented query parameters and builds its answer from fields of that operation's answer;
/// the fault sequence answers in the document's error envelope.
#[test]
fn the_wso2_api_uses_only_the_documented_api() {
    let file = "integration/wso2/ArticlesAPI.xml";
    let text = read(file);
    let doc = Document::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let api = doc.root_element();
    assert!(
        api.has_tag_name((SYNAPSE, "api")),
        "{file}: root is not a Synapse api"
    );
    let context = api.attribute("context").unwrap();
    assert!(context.starts_with('/'));
    let spec = spec();
    let mut pass_through = 0;
    let mut facades = Vec::new();
    for resource in api
        .children()
        .filter(|n| n.has_tag_name((SYNAPSE, "resource")))
    {
        let template = resource.attribute("uri-template").unwrap();
        let methods: Vec<&str> = resource.attribute("methods").unwrap().split(' ').collect();
        let facade = resource.descendants().any(|n| {
            n.has_tag_name((SYNAPSE, "property"))
                && n.attribute("name") == Some("REST_URL_POSTFIX")
                && n.attribute("action") == Some("remove")
        });
        if !facade {
            // Forwarded as it came: it must be the REST API's own.
            for method in methods {
                assert_operation(&spec, method, template, file);
                pass_through += 1;
            }
            continue;
        }
        facades.push(template.to_owned());
        let call = resource
            .descendants()
            .find(|n| n.has_tag_name((SYNAPSE, "http")))
            .unwrap_or_else(|| panic!("{file}: {template} calls no http endpoint"));
        let method = call.attribute("method").unwrap().to_ascii_uppercase();
        let target = call
            .attribute("uri-template")
            .unwrap()
            .strip_prefix("{uri.var.restUrl}")
            .unwrap_or_else(|| panic!("{file}: {template}: endpoint not under uri.var.restUrl"));
        let operation = assert_operation(&spec, &method, target, file);
        let ok = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        for arg in resource
            .descendants()
            .filter(|n| n.has_tag_name((SYNAPSE, "arg")))
            .filter(|a| a.attribute("evaluator") == Some("json"))
        {
            let path = arg.attribute("expression").unwrap();
            assert!(
                has_fields(&spec, ok, &json_path(path)),
                "{file}: {method} {target} answers no {path}"
            );
        }
    }
    assert!(
        pass_through >= 6,
        "{file}: the article endpoints are exposed"
    );
    assert_eq!(
        facades,
        ["/articles-sync?lastSyncTime={lastSyncTime}"],
        "{file}: the original's sync resource"
    );

    let file = "integration/wso2/ArticlesRestUnavailable.xml";
    let text = read(file);
    let doc = Document::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(doc.root_element().has_tag_name((SYNAPSE, "sequence")));
    let format = doc
        .descendants()
        .find(|n| n.has_tag_name((SYNAPSE, "format")))
        .and_then(|n| n.text())
        .unwrap();
    let envelope: Value = serde_json::from_str(format).unwrap();
    let error = resolve(&spec, &spec["components"]["schemas"]["Error"]);
    for key in envelope.as_object().unwrap().keys() {
        assert!(
            has_fields(&spec, error, &[key]),
            "{file}: Error has no {key}"
        );
    }
    let codes = error["properties"]["code"]["enum"].as_array().unwrap();
    assert!(codes.contains(&envelope["code"]), "{file}: unknown code");
}
