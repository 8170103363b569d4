//! Parsed and validated operations, kept per worker so that a client sending the same document
//! again (with new variables, as GraphQL clients do) skips parsing and validation.
//!
//! juniper's `ValidatedOperation` borrows its document and schema; [`PreparedOperation`] owns both
//! (self_cell) so it can live in a cache, next to its [`CostPlan`]. Limits (depth, fields, tokens)
//! and the introspection switch are checked when an operation is prepared, so a cached one has
//! passed them; its cost depends on the variables and is evaluated per request. Documents that
//! fail are never cached.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use juniper::parser::ParseError;
use juniper::{EmptySubscription, GraphQLError, OperationType, Spanning, ValidatedOperation};
use self_cell::self_cell;

use super::context::RequestContext;
use super::cost::{self, CostPlan};
use super::schema::{Mutation, Query, Schema};

/// Distinct (document, operation name) pairs a worker keeps; the cache starts over when full.
const CAPACITY: usize = 256;

/// What a prepared operation borrows from.
pub struct Source {
    schema: Arc<Schema>,
    document: Box<str>,
    operation_name: Option<Box<str>>,
}

type Validated<'a> = ValidatedOperation<'a, Query, Mutation, EmptySubscription<RequestContext>>;

self_cell!(
    /// A parsed and validated operation together with the document and schema it borrows.
    pub struct PreparedOperation {
        owner: Source,
        #[covariant]
        dependent: Validated,
    }
);

/// A validated operation and its cost.
pub struct Prepared {
    operation: PreparedOperation,
    cost: CostPlan,
}

impl Prepared {
    /// The validated operation, ready to execute.
    pub fn operation(&self) -> &Validated<'_> {
        self.operation.borrow_dependent()
    }

    pub fn operation_type(&self) -> OperationType {
        self.operation().operation_type()
    }

    /// What the operation costs, given a request's variables.
    pub fn cost(&self) -> &CostPlan {
        &self.cost
    }
}

/// The prepared operations of one document, by operation name.
type ByName = Vec<(Option<Box<str>>, Rc<Prepared>)>;

/// The operations one worker has prepared, by document text and operation name.
pub struct PreparedOperations {
    by_document: RefCell<HashMap<Box<str>, ByName>>,
    /// The cost budget: counting introspection stops past it (see `cost::plan`).
    max_cost: u64,
}

impl PreparedOperations {
    pub fn new(max_cost: u64) -> Self {
        Self {
            by_document: RefCell::default(),
            max_cost,
        }
    }

    /// The prepared operation for `document` / `operation_name`, parsing and validating it (and
    /// planning its cost) on first sight. Errors are the ones juniper reports for the document.
    pub fn get(
        &self,
        schema: &Arc<Schema>,
        document: &str,
        operation_name: Option<&str>,
    ) -> Result<Rc<Prepared>, GraphQLError> {
        if let Some(found) = self.by_document.borrow().get(document).and_then(|named| {
            named
                .iter()
                .find(|(name, _)| name.as_deref() == operation_name)
                .map(|(_, prepared)| Rc::clone(prepared))
        }) {
            return Ok(found);
        }
        let source = Source {
            schema: Arc::clone(schema),
            document: document.into(),
            operation_name: operation_name.map(Into::into),
        };
        let operation = PreparedOperation::try_new(source, |source| {
            ValidatedOperation::new(
                &source.document,
                source.operation_name.as_deref(),
                &source.schema,
            )
        })
        .map_err(clearer)?;
        let cost = cost::plan(document, operation_name, &schema.schema, self.max_cost);
        let prepared = Rc::new(Prepared { operation, cost });
        let mut cache = self.by_document.borrow_mut();
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache
            .entry(document.into())
            .or_default()
            .push((operation_name.map(Into::into), Rc::clone(&prepared)));
        Ok(prepared)
    }
}
/// juniper's own words where they mislead a client: a float literal (`limit: 1.5`) is reported
/// as "There needs to be a Float type", as if the server were misconfigured; this schema simply
/// has no Float anywhere (found by schemathesis).
fn clearer(error: GraphQLError) -> GraphQLError {
    match error {
        GraphQLError::ParseError(Spanning {
            item: ParseError::ExpectedScalarError("There needs to be a Float type"),
            span,
        }) => GraphQLError::ParseError(Spanning::new(
            span,
            ParseError::ExpectedScalarError(
                "a number with a fraction or an exponent (a Float) is accepted nowhere in this \
                 schema: Int arguments take whole numbers from -2147483648 to 2147483647, String \
                 arguments quoted text",
            ),
        )),
        other => other,
    }
}
