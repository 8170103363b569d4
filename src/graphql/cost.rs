//! The cost of an operation: a bound on what it can make this server fetch and answer, computed
//! from the validated document and the request's variables before any resolver runs.
//!
//! # The formula
//!
//! Every selected field costs 1. A list field costs 1 plus, for each row it may return, what is
//! selected under it (GitHub's node limit, which multiplies by page sizes, is the model):
//!
//! - The rows of `getArticles { data }` are its `limit` argument, a literal or a variable; REST's
//!   default page of [`DEFAULT_ROWS`] when `limit` is absent or null; never more than REST's
//!   largest page, [`MAX_ROWS`] (REST refuses larger ones), never fewer than 0.
//! - Introspection lists (`__schema { types }`, `fields`, `args`, `enumValues`, ...) return what
//!   this schema holds, so they are counted exactly: the cost of an introspection query is the
//!   number of fields in its answer. Counting stops once past the budget, so a recursive
//!   introspection query (`fields { type { ofType { fields ... } } }`) costs no more to refuse
//!   than the budget.
//! - Fragments count at each spread. `@skip` and `@include` are ignored: the cost is an upper
//!   bound.
//!
//! Examples (an article has five fields):
//!
//! | document | cost |
//! |---|---|
//! | `{ getArticle(id: 1) { data { title } } }` | 3 |
//! | `{ getArticles { data { id title } } }` | 2 + 100 × 2 = 202 |
//! | `{ getArticles(limit: 1000) { count data { id title content createdAt updatedAt } } }` | 3 + 1000 × 5 = 5003 |
//! | 160 aliases of `getArticles(limit: 1000) { data { content } }` | 160 × (2 + 1000) = 160,320 |
//!
//! [`plan`] runs once per prepared document: it parses the text again with juniper's own parser
//! (juniper's `ValidatedOperation` does not show its AST) and keeps the parts that depend on
//! variables. [`CostPlan::evaluate`] runs per request, with that request's variables.
//!
//! **Architecture Invariant:** pure functions of the document, the schema and the variables; no
//! I/O.

use std::cell::Cell;
use std::collections::HashMap;

use juniper::meta::{Argument, Field, MetaType};
use juniper::{
    DefaultScalarValue, Definition, InputValue, OperationType, SchemaType, Selection, Spanning,
    Type, Variables,
};

type S = DefaultScalarValue;

/// Rows of a list without a `limit`: REST's default page of `GET /articles`
/// (`rest::types::DEFAULT_LIMIT`).
pub const DEFAULT_ROWS: u64 = 100;
/// Most rows of any list: REST's largest page (`rest::types::MAX_LIMIT`).
pub const MAX_ROWS: u64 = 1000;

/// The cost of one operation of a document, ready to be evaluated with a request's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostPlan {
    /// Fields whose number does not depend on variables.
    fixed: u64,
    /// Lists whose rows come from a `limit` argument.
    pages: Vec<Page>,
    /// Root fields of a mutation: each is one REST write.
    writes: u64,
}

/// A list whose rows come from a `limit` argument: costs `rows × per_row`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Page {
    rows: Rows,
    per_row: u64,
}

/// Where a list's rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rows {
    /// A literal `limit` (`None`: absent or `null`).
    Literal(Option<i64>),
    /// `limit: $name`, with the default of the variable's definition.
    Variable { name: String, default: Option<i64> },
}

impl Rows {
    fn of(value: Option<&InputValue<S>>, defaults: &HashMap<&str, Option<i64>>) -> Self {
        match value {
            Some(InputValue::Variable(name)) => Self::Variable {
                default: defaults.get(name.as_str()).copied().flatten(),
                name: name.clone(),
            },
            other => Self::Literal(other.and_then(int)),
        }
    }

    fn resolve(&self, variables: &Variables<S>) -> u64 {
        let limit = match self {
            Self::Literal(limit) => *limit,
            // A variable sent as null (or of the wrong type, which execution refuses) asks for
            // the default page; an absent one takes its definition's default.
            Self::Variable { name, default } => match variables.get(name) {
                Some(value) => int(value),
                None => *default,
            },
        };
        limit.map_or(DEFAULT_ROWS, |n| n.clamp(0, MAX_ROWS as i64) as u64)
    }
}

fn int(value: &InputValue<S>) -> Option<i64> {
    match value {
        InputValue::Scalar(DefaultScalarValue::Int(n)) => Some(i64::from(*n)),
        _ => None,
    }
}

impl CostPlan {
    /// A plan that is over every budget (for a document that cannot be planned, which validation
    /// makes impossible).
    fn unbounded() -> Self {
        Self {
            fixed: u64::MAX,
            pages: Vec::new(),
            writes: u64::MAX,
        }
    }

    /// The cost with these variables.
    pub fn evaluate(&self, variables: &Variables<S>) -> u64 {
        self.pages.iter().fold(self.fixed, |sum, page| {
            sum.saturating_add(page.rows.resolve(variables).saturating_mul(page.per_row))
        })
    }

    /// REST writes the operation makes: its root fields if it is a mutation, else 0.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

/// The cost of a selection set on one of our own types: fields, plus lists paged by `limit`.
#[derive(Debug, Default)]
struct Linear {
    fixed: u64,
    pages: Vec<Page>,
}

impl Linear {
    fn add(&mut self, other: Linear) {
        self.fixed = self.fixed.saturating_add(other.fixed);
        self.pages.extend(other.pages);
    }

    fn scaled(mut self, factor: u64) -> Linear {
        self.fixed = self.fixed.saturating_mul(factor);
        for page in &mut self.pages {
            page.per_row = page.per_row.saturating_mul(factor);
        }
        self
    }
}

/// Plans the cost of `operation_name` (or the only operation) in `document`, a document that
/// passed juniper's validation against `schema`. Introspection is counted up to `ceiling` (the
/// budget): past it, the exact number no longer matters.
pub fn plan(
    document: &str,
    operation_name: Option<&str>,
    schema: &SchemaType<S>,
    ceiling: u64,
) -> CostPlan {
    let Ok(definitions) = juniper::parser::parse_document_source::<S>(document, schema) else {
        return CostPlan::unbounded();
    };
    let mut operation = None;
    let mut fragments = HashMap::new();
    for definition in &definitions {
        match definition {
            Definition::Operation(candidate) => {
                let name = candidate.item.name.as_ref().map(|n| n.item);
                if operation_name.is_none() || name == operation_name {
                    operation = Some(&candidate.item);
                }
            }
            Definition::Fragment(fragment) => {
                fragments.insert(
                    fragment.item.name.item,
                    (
                        fragment.item.type_condition.item,
                        fragment.item.selection_set.as_slice(),
                    ),
                );
            }
        }
    }
    let Some(operation) = operation else {
        return CostPlan::unbounded();
    };
    let root = match operation.operation_type {
        OperationType::Query => Some(schema.concrete_query_type()),
        OperationType::Mutation => schema.concrete_mutation_type(),
        OperationType::Subscription => schema.concrete_subscription_type(),
    };
    let Some(root) = root else {
        return CostPlan::unbounded();
    };
    let defaults = operation
        .variables_definition
        .as_ref()
        .map(|definitions| {
            definitions
                .item
                .items
                .iter()
                .map(|(name, definition)| {
                    let default = definition.default_value.as_ref().and_then(|v| int(&v.item));
                    (name.item, default)
                })
                .collect()
        })
        .unwrap_or_default();
    let planner = Planner {
        schema,
        fragments,
        defaults,
        ceiling,
        introspected: Cell::new(0),
    };
    let mut cost = Linear::default();
    planner.selections(&operation.selection_set, root, None, &mut cost);
    let writes = if operation.operation_type == OperationType::Mutation {
        planner.root_fields(&operation.selection_set)
    } else {
        0
    };
    CostPlan {
        fixed: cost.fixed,
        pages: cost.pages,
        writes,
    }
}

/// The arguments of a field in the AST.
type Args<'d> = [(Spanning<&'d str>, Spanning<InputValue<S>>)];

/// A fragment's type condition and selections.
type FragmentBody<'d> = (&'d str, &'d [Selection<'d, S>]);

struct Planner<'d, 's> {
    schema: &'s SchemaType<S>,
    fragments: HashMap<&'d str, FragmentBody<'d>>,
    /// Default values of the operation's variables (for `limit: $n`).
    defaults: HashMap<&'d str, Option<i64>>,
    ceiling: u64,
    /// Introspection fields counted so far, over all root fields.
    introspected: Cell<u64>,
}

/// A node of the introspection answer, as far as counting its fields needs.
#[derive(Clone, Copy)]
enum Intro<'s> {
    Schema,
    /// A type reference: the named type inside `wrappers` NON_NULL / LIST levels.
    Type {
        named: &'s MetaType<S>,
        wrappers: usize,
    },
    Field(&'s Field<S>),
    InputValue(&'s Argument<S>),
    EnumValue,
    Directive {
        args: &'s [Argument<S>],
        locations: u64,
    },
}

impl<'d, 's> Planner<'d, 's> {
    /// Adds the cost of `set`, selected on `on`, to `out`. `rows` is the `limit` of the nearest
    /// enclosing field that has one, for the next list down.
    fn selections(
        &self,
        set: &'d [Selection<'d, S>],
        on: &'s MetaType<S>,
        rows: Option<&Rows>,
        out: &mut Linear,
    ) {
        for selection in set {
            match selection {
                Selection::Field(field) => {
                    let field = &field.item;
                    let args = field
                        .arguments
                        .as_ref()
                        .map_or(&[][..], |a| a.item.items.as_slice());
                    let sub = field.selection_set.as_deref();
                    self.field(field.name.item, args, sub, on, rows, out);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some((condition, set)) = self.fragments.get(spread.item.name.item) {
                        let on = self.schema.concrete_type_by_name(condition).unwrap_or(on);
                        self.selections(set, on, rows, out);
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .item
                        .type_condition
                        .as_ref()
                        .and_then(|c| self.schema.concrete_type_by_name(c.item))
                        .unwrap_or(on);
                    self.selections(&inline.item.selection_set, on, rows, out);
                }
            }
        }
    }

    fn field(
        &self,
        name: &'d str,
        args: &'d Args<'d>,
        sub: Option<&'d [Selection<'d, S>]>,
        on: &'s MetaType<S>,
        rows: Option<&Rows>,
        out: &mut Linear,
    ) {
        out.fixed = out.fixed.saturating_add(1);
        match name {
            "__typename" => return,
            "__schema" | "__type" => {
                let mut total = 0;
                if let Some(sub) = sub {
                    self.introspection_root(name, args, sub, &mut total);
                }
                self.introspected
                    .set(self.introspected.get().saturating_add(total));
                out.fixed = out.fixed.saturating_add(total);
                return;
            }
            _ => {}
        }
        let Some(meta) = on.field_by_name(name) else {
            return; // validation makes this impossible
        };
        let lists = list_depth(self.schema, &meta.field_type);
        let own = meta
            .arguments
            .iter()
            .flatten()
            .any(|a| a.name == "limit")
            .then(|| Rows::of(arg(args, "limit"), &self.defaults));
        let rows = own.or_else(|| rows.cloned());
        let mut child = Linear::default();
        match sub {
            Some(sub) => {
                let Some(inner) = self
                    .schema
                    .concrete_type_by_name(meta.field_type.innermost_name())
                else {
                    return;
                };
                // A list takes the enclosing `limit`; what is under it starts afresh.
                let child_rows = if lists == 0 { rows.as_ref() } else { None };
                self.selections(sub, inner, child_rows, &mut child);
            }
            None => child.fixed = u64::from(lists > 0), // each item of a list of scalars
        }
        if lists == 0 {
            out.add(child);
            return;
        }
        // Deeper list levels (none in this schema) count REST's largest page each.
        let deeper = MAX_ROWS.saturating_pow(lists as u32 - 1);
        match rows {
            Some(rows) if child.pages.is_empty() => out.pages.push(Page {
                rows,
                per_row: child.fixed.saturating_mul(deeper),
            }),
            // A paged list inside a list (none in this schema): the largest page for both.
            _ => out.add(child.scaled(MAX_ROWS.saturating_mul(deeper))),
        }
    }

    /// Root fields of a mutation, fragments expanded (each is one REST write).
    fn root_fields(&self, set: &'d [Selection<'d, S>]) -> u64 {
        set.iter()
            .map(|selection| match selection {
                Selection::Field(field) => u64::from(field.item.name.item != "__typename"),
                Selection::FragmentSpread(spread) => self
                    .fragments
                    .get(spread.item.name.item)
                    .map_or(0, |(_, set)| self.root_fields(set)),
                Selection::InlineFragment(inline) => self.root_fields(&inline.item.selection_set),
            })
            .sum()
    }

    /// `__schema { ... }` or `__type(name: ...) { ... }`: adds the fields of the answer.
    fn introspection_root(
        &self,
        name: &str,
        args: &'d Args<'d>,
        sub: &'d [Selection<'d, S>],
        total: &mut u64,
    ) {
        if name == "__schema" {
            return self.introspect(sub, Intro::Schema, total);
        }
        let wanted = match arg(args, "name") {
            Some(InputValue::Scalar(DefaultScalarValue::String(wanted))) => Some(wanted.as_str()),
            _ => None,
        };
        match wanted {
            Some(wanted) => {
                if let Some(named) = self.schema.concrete_type_by_name(wanted) {
                    self.introspect(sub, Intro::Type { named, wrappers: 0 }, total);
                }
            }
            // `__type(name: $var)`: the most any type of the schema can answer.
            None => {
                let most = self
                    .schema
                    .concrete_type_list()
                    .into_iter()
                    .map(|named| {
                        let mut one = 0;
                        self.introspect(sub, Intro::Type { named, wrappers: 0 }, &mut one);
                        one
                    })
                    .max()
                    .unwrap_or(0);
                *total = total.saturating_add(most);
            }
        }
    }

    /// Adds the number of fields the answer of `set` on `node` holds; stops once the
    /// introspection of the whole operation is past the ceiling.
    fn introspect(&self, set: &'d [Selection<'d, S>], node: Intro<'s>, total: &mut u64) {
        for selection in set {
            if total.saturating_add(self.introspected.get()) > self.ceiling {
                return;
            }
            match selection {
                Selection::Field(field) => {
                    let name = field.item.name.item;
                    *total = total.saturating_add(1);
                    match field.item.selection_set.as_deref() {
                        Some(sub) => {
                            for child in self.children(node, name) {
                                self.introspect(sub, child, total);
                            }
                        }
                        None => {
                            if let (Intro::Directive { locations, .. }, "locations") = (node, name)
                            {
                                *total = total.saturating_add(locations);
                            }
                        }
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if let Some((_, set)) = self.fragments.get(spread.item.name.item) {
                        self.introspect(set, node, total);
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.introspect(&inline.item.selection_set, node, total);
                }
            }
        }
    }

    /// The objects field `name` of `node` answers with (empty for null and for scalars),
    /// mirroring juniper's introspection resolvers (`juniper::schema::schema`).
    fn children(&self, node: Intro<'s>, name: &str) -> Vec<Intro<'s>> {
        let schema = self.schema;
        let named = |named: &'s MetaType<S>| Intro::Type { named, wrappers: 0 };
        match (node, name) {
            (Intro::Schema, "types") => schema
                .concrete_type_list()
                .into_iter()
                .filter(|t| {
                    let name = t.name().map(|n| n.as_str());
                    name != Some("_EmptyMutation") && name != Some("_EmptySubscription")
                })
                .map(named)
                .collect(),
            (Intro::Schema, "queryType") => vec![named(schema.concrete_query_type())],
            (Intro::Schema, "mutationType") => schema
                .concrete_mutation_type()
                .map(named)
                .into_iter()
                .collect(),
            (Intro::Schema, "subscriptionType") => schema
                .concrete_subscription_type()
                .map(named)
                .into_iter()
                .collect(),
            (Intro::Schema, "directives") => schema
                .directive_list()
                .into_iter()
                .map(|d| Intro::Directive {
                    args: &d.arguments,
                    locations: d.locations.len() as u64,
                })
                .collect(),
            (Intro::Type { named, wrappers }, "ofType") if wrappers > 0 => vec![Intro::Type {
                named,
                wrappers: wrappers - 1,
            }],
            (Intro::Type { wrappers, .. }, _) if wrappers > 0 => Vec::new(),
            (Intro::Type { named: t, .. }, "fields") => match t {
                MetaType::Object(o) => fields(&o.fields),
                MetaType::Interface(i) => fields(&i.fields),
                _ => Vec::new(),
            },
            (Intro::Type { named: t, .. }, "interfaces") => match t {
                MetaType::Object(o) => self.types_named(&o.interface_names),
                MetaType::Interface(i) => self.types_named(&i.interface_names),
                _ => Vec::new(),
            },
            (Intro::Type { named: t, .. }, "possibleTypes") => match t {
                MetaType::Union(u) => self.types_named(&u.of_type_names),
                MetaType::Interface(i) => schema
                    .concrete_type_list()
                    .into_iter()
                    .filter(|c| match c {
                        MetaType::Object(o) => o.interface_names.contains(&i.name),
                        _ => false,
                    })
                    .map(named)
                    .collect(),
                _ => Vec::new(),
            },
            (
                Intro::Type {
                    named: MetaType::Enum(e),
                    ..
                },
                "enumValues",
            ) => vec![Intro::EnumValue; e.values.len()],
            (
                Intro::Type {
                    named: MetaType::InputObject(o),
                    ..
                },
                "inputFields",
            ) => o.input_fields.iter().map(Intro::InputValue).collect(),
            (Intro::Field(f), "args") => f
                .arguments
                .iter()
                .flatten()
                .map(Intro::InputValue)
                .collect(),
            (Intro::Field(f), "type") => self.type_ref(&f.field_type).into_iter().collect(),
            (Intro::InputValue(a), "type") => self.type_ref(&a.arg_type).into_iter().collect(),
            (Intro::Directive { args, .. }, "args") => args.iter().map(Intro::InputValue).collect(),
            _ => Vec::new(),
        }
    }

    fn types_named(&self, names: &'s [juniper::ArcStr]) -> Vec<Intro<'s>> {
        names
            .iter()
            .filter_map(|n| self.schema.concrete_type_by_name(n))
            .map(|named| Intro::Type { named, wrappers: 0 })
            .collect()
    }

    fn type_ref(&self, ty: &'s Type) -> Option<Intro<'s>> {
        let named = self.schema.concrete_type_by_name(ty.innermost_name())?;
        Some(Intro::Type {
            named,
            wrappers: ty.modifiers().len(),
        })
    }
}

/// The fields introspection lists for an object or interface (juniper hides `__` fields).
fn fields<'s>(fields: &'s [Field<S>]) -> Vec<Intro<'s>> {
    fields
        .iter()
        .filter(|f| !f.name.starts_with("__"))
        .map(Intro::Field)
        .collect()
}

/// How many list levels a field type has (`[Article!]!` has one).
fn list_depth(schema: &SchemaType<S>, ty: &Type) -> usize {
    let made = schema.make_type(ty);
    let mut depth = 0;
    let mut current = made.list_contents();
    while let Some(inner) = current {
        depth += 1;
        current = inner.list_contents();
    }
    depth
}

fn arg<'a>(args: &'a Args<'_>, name: &str) -> Option<&'a InputValue<S>> {
    args.iter()
        .find(|(key, _)| key.item == name)
        .map(|(_, value)| &value.item)
}

#[cfg(test)]
mod tests {
    use juniper::graphql_vars;

    use super::*;
    use crate::graphql::schema::{self, Limits};

    const BUDGET: u64 = 10_000;

    fn schema() -> schema::Schema {
        schema::build(Limits {
            max_depth: 20,
            max_fields: 500,
            max_tokens: 5000,
            introspection: true,
        })
    }

    fn cost(document: &str, variables: Variables<S>) -> u64 {
        plan(document, None, &schema().schema, BUDGET).evaluate(&variables)
    }

    /// Fields cost 1 each; a list costs its rows times the fields selected in it.
    #[test]
    fn fields_cost_one_and_lists_cost_rows_times_fields() {
        assert_eq!(
            cost("{ getArticle(id: 1) { data { title } } }", graphql_vars! {}),
            3
        );
        assert_eq!(
            cost("{ getArticles { data { id title } } }", graphql_vars! {}),
            202
        );
        let full_page =
            "{ getArticles(limit: 1000) { count data { id title content createdAt updatedAt } } }";
        assert_eq!(cost(full_page, graphql_vars! {}), 5003);
        assert_eq!(
            cost(
                "{ __typename getArticles(limit: 3) { __typename } }",
                graphql_vars! {}
            ),
            3
        );
    }

    /// The finding of issue 12: 160 aliases of a 1000-row page cost 160 × 1002.
    #[test]
    fn the_alias_attack_costs_what_it_fetches() {
        let aliases: String = (0..160)
            .map(|i| {
                format!(
                    "a{i}: getArticles(limit: 1000, offset: {}) {{ data {{ content }} }} ",
                    i * 1000
                )
            })
            .collect();
        assert_eq!(cost(&format!("{{ {aliases} }}"), graphql_vars! {}), 160_320);
    }

    /// `limit` may be a variable; absent, null or out of range it is REST's default or bounds.
    #[test]
    fn limit_comes_from_variables_defaults_and_rest_bounds() {
        let query = "query($n: Int) { getArticles(limit: $n) { data { id } } }";
        assert_eq!(cost(query, graphql_vars! {"n": 7}), 2 + 7);
        assert_eq!(cost(query, graphql_vars! {}), 2 + 100);
        assert_eq!(cost(query, graphql_vars! {"n": null}), 2 + 100);
        assert_eq!(cost(query, graphql_vars! {"n": 5000}), 2 + 1000);
        assert_eq!(cost(query, graphql_vars! {"n": -5}), 2);
        let with_default = "query($n: Int = 3) { getArticles(limit: $n) { data { id } } }";
        assert_eq!(cost(with_default, graphql_vars! {}), 2 + 3);
        assert_eq!(cost(with_default, graphql_vars! {"n": 9}), 2 + 9);
        assert_eq!(
            cost(
                "{ getArticles(limit: null) { data { id } } }",
                graphql_vars! {}
            ),
            102
        );
    }

    /// Fragments count at each spread, inline fragments where they are.
    #[test]
    fn fragments_count_at_each_spread() {
        let document = "query { a: getArticles(limit: 10) { ...Page } b: getArticles(limit: 20) { ...Page } } \
                        fragment Page on ArticlesResponse { count data { ...Row ... on Article { title } } } \
                        fragment Row on Article { id content }";
        // each alias: getArticles + count + data = 3, plus rows × (id content title)
        assert_eq!(cost(document, graphql_vars! {}), 3 + 10 * 3 + 3 + 20 * 3);
    }

    /// Mutations count their root fields as writes; queries write nothing.
    #[test]
    fn mutations_count_their_writes() {
        let schema = schema();
        let writes = |document| plan(document, None, &schema.schema, BUDGET).writes();
        assert_eq!(
            writes("mutation { a: deleteArticle(id: 1) { success } b: deleteArticle(id: 2) { success } __typename }"),
            2
        );
        assert_eq!(writes("{ getArticle(id: 1) { success } }"), 0);
        let create = "mutation M { ...Two } fragment Two on Mutation { \
                      a: createArticle(title: \"t\", content: \"c\") { success } \
                      b: createArticle(title: \"t\", content: \"c\") { success } }";
        assert_eq!(writes(create), 2);
    }

    /// The operation named in the request is the one costed.
    #[test]
    fn the_named_operation_is_costed() {
        let document = "query Small { getArticle(id: 1) { success } } \
                        query Big { getArticles(limit: 1000) { data { id } } }";
        let schema = schema();
        let cost =
            |name| plan(document, Some(name), &schema.schema, BUDGET).evaluate(&graphql_vars! {});
        assert_eq!(cost("Small"), 2);
        assert_eq!(cost("Big"), 1002);
    }

    /// The examples of docs/graphql.md ("The cost formula") cost what the table says.
    #[test]
    fn the_documented_examples_cost_what_the_docs_say() {
        let page = "getArticles(limit: 1000) { data { content } }";
        let aliases = |n: usize| -> String {
            let fields: String = (0..n).map(|i| format!("a{i}: {page} ")).collect();
            format!("{{ {fields} }}")
        };
        for (document, variables, expected) in [
            ("{ getArticle(id: 1) { success data { title content } } }".to_owned(), graphql_vars! {}, 5),
            ("{ getArticles { count data { id title } } }".to_owned(), graphql_vars! {}, 203),
            (
                "query($n: Int) { getArticles(limit: $n) { data { content } } }".to_owned(),
                graphql_vars! {"n": 1000},
                1002,
            ),
            (
                "{ getArticles(limit: 1000) { success count total message data { id title content createdAt updatedAt } } }".to_owned(),
                graphql_vars! {},
                5006,
            ),
            (aliases(9), graphql_vars! {}, 9018),
            (aliases(10), graphql_vars! {}, 10_020),
            (aliases(160), graphql_vars! {}, 160_320),
        ] {
            assert_eq!(cost(&document, variables), expected, "{document}");
        }
    }

    /// GraphiQL's introspection query costs 1244 in this schema (docs/graphql.md quotes it; the
    /// integration test checks that it is the number of fields in the answer).
    #[test]
    fn graphiql_introspection_costs_what_the_docs_say() {
        let query = include_str!("../../tests/graphql_support/introspection.graphql");
        assert_eq!(cost(query, graphql_vars! {}), 1244);
    }

    /// Introspection past the ceiling is counted only up to it, however much it repeats.
    #[test]
    fn introspection_is_counted_up_to_the_ceiling() {
        let aliases: String = (0..60)
            .map(|i| format!("s{i}: __schema {{ types {{ fields {{ name args {{ name type {{ name }} }} }} }} }} "))
            .collect();
        let cost = cost(&format!("{{ {aliases} }}"), graphql_vars! {});
        assert!(cost > BUDGET, "{cost}");
        assert!(
            cost < BUDGET + 1000,
            "counting stopped near the ceiling: {cost}"
        );
    }
}
