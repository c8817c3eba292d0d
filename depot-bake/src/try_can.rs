//! `try(…)` and `can(…)`, which need their arguments unevaluated: an expression is rewritten
//! before it is evaluated, each call replaced by its result — `try`'s first argument that
//! evaluates, `can`'s whether its argument does. Calls inside `for` expressions and template
//! directives (whose local names are not known until then) are left to the eager twins
//! [`functions`] declares, which are right whenever their arguments evaluate.

use hcl::eval::{Context, Evaluate, FuncDef, ParamType};
use hcl::expr::{Conditional, FuncCall, ObjectKey, Operation, TraversalOperator};
use hcl::template::Element;
use hcl::{Expression, Template, Value};

/// The eager twins: `try` returns its first argument, `can` true.
pub(crate) fn functions() -> Vec<(&'static str, FuncDef)> {
    vec![
        (
            "try",
            FuncDef::builder()
                .variadic_param(ParamType::Any)
                .build(|args| {
                    args.iter()
                        .next()
                        .cloned()
                        .ok_or_else(|| "at least one argument is required".to_owned())
                }),
        ),
        (
            "can",
            FuncDef::builder()
                .param(ParamType::Any)
                .build(|_| Ok(Value::Bool(true))),
        ),
    ]
}

/// Evaluates `expr` in `ctx`, its `try` and `can` calls resolved first.
pub(crate) fn evaluate(expr: &Expression, ctx: &Context<'_>) -> hcl::eval::EvalResult<Value> {
    if mentions_try_or_can(expr) {
        resolve(expr.clone(), ctx).evaluate(ctx)
    } else {
        expr.evaluate(ctx)
    }
}

/// Whether `expr` calls `try` or `can` (templates: whether their text names them).
pub(crate) fn mentions_try_or_can(expr: &Expression) -> bool {
    match expr {
        Expression::FuncCall(call) => {
            matches!(call.name.name.as_str(), "try" | "can")
                || call.args.iter().any(mentions_try_or_can)
        }
        Expression::TemplateExpr(template) => {
            let text = template.to_string();
            text.contains("try(") || text.contains("can(")
        }
        Expression::Array(items) => items.iter().any(mentions_try_or_can),
        Expression::Object(object) => object.iter().any(|(key, value)| {
            matches!(key, ObjectKey::Expression(key) if mentions_try_or_can(key))
                || mentions_try_or_can(value)
        }),
        Expression::Traversal(traversal) => {
            mentions_try_or_can(&traversal.expr)
                || traversal.operators.iter().any(|operator| {
                    matches!(operator, TraversalOperator::Index(index) if mentions_try_or_can(index))
                })
        }
        Expression::Parenthesis(inner) => mentions_try_or_can(inner),
        Expression::Conditional(conditional) => {
            mentions_try_or_can(&conditional.cond_expr)
                || mentions_try_or_can(&conditional.true_expr)
                || mentions_try_or_can(&conditional.false_expr)
        }
        Expression::Operation(operation) => match operation.as_ref() {
            Operation::Unary(unary) => mentions_try_or_can(&unary.expr),
            Operation::Binary(binary) => {
                mentions_try_or_can(&binary.lhs_expr) || mentions_try_or_can(&binary.rhs_expr)
            }
        },
        _ => false,
    }
}

/// The variables `expr` names (roughly: a `for` expression's own names are included, and a
/// template's directives are not looked into).
pub(crate) fn variables(expr: &Expression) -> Vec<String> {
    let mut names = Vec::new();
    collect_variables(expr, &mut names);
    names
}

fn collect_variables(expr: &Expression, names: &mut Vec<String>) {
    let mut go = |expr: &Expression| collect_variables(expr, names);
    match expr {
        Expression::Variable(variable) => names.push(variable.to_string()),
        Expression::FuncCall(call) => call.args.iter().for_each(go),
        Expression::TemplateExpr(template) => {
            if let Ok(parsed) = Template::from_expr(template) {
                for element in parsed.elements() {
                    if let Element::Interpolation(interpolation) = element {
                        go(&interpolation.expr);
                    }
                }
            }
        }
        Expression::Array(items) => items.iter().for_each(go),
        Expression::Object(object) => {
            for (key, value) in object {
                if let ObjectKey::Expression(key) = key {
                    go(key);
                }
                go(value);
            }
        }
        Expression::Traversal(traversal) => {
            go(&traversal.expr);
            for operator in &traversal.operators {
                if let TraversalOperator::Index(index) = operator {
                    go(index);
                }
            }
        }
        Expression::Parenthesis(inner) => go(inner),
        Expression::Conditional(conditional) => {
            go(&conditional.cond_expr);
            go(&conditional.true_expr);
            go(&conditional.false_expr);
        }
        Expression::Operation(operation) => match operation.as_ref() {
            Operation::Unary(unary) => go(&unary.expr),
            Operation::Binary(binary) => {
                go(&binary.lhs_expr);
                go(&binary.rhs_expr);
            }
        },
        Expression::ForExpr(for_expr) => {
            go(&for_expr.collection_expr);
            if let Some(key) = &for_expr.key_expr {
                go(key);
            }
            go(&for_expr.value_expr);
            if let Some(cond) = &for_expr.cond_expr {
                go(cond);
            }
        }
        _ => {}
    }
}

/// `expr` with its `try` and `can` calls replaced by their results.
fn resolve(expr: Expression, ctx: &Context<'_>) -> Expression {
    let go = |expr: Expression| resolve(expr, ctx);
    match expr {
        Expression::FuncCall(call) if call.name.namespace.is_empty() => {
            let FuncCall {
                name,
                args,
                expand_final,
            } = *call;
            let args: Vec<Expression> = args.into_iter().map(go).collect();
            match name.name.as_str() {
                "try" if !expand_final => {
                    for arg in &args {
                        if let Ok(value) = arg.evaluate(ctx) {
                            return Expression::from(value);
                        }
                    }
                }
                "can" if !expand_final && args.len() == 1 => {
                    return Expression::Bool(args[0].evaluate(ctx).is_ok());
                }
                _ => {}
            }
            Expression::FuncCall(Box::new(FuncCall {
                name,
                args,
                expand_final,
            }))
        }
        Expression::Array(items) => Expression::Array(items.into_iter().map(go).collect()),
        Expression::Object(object) => Expression::Object(
            object
                .into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        ObjectKey::Expression(key) => ObjectKey::Expression(go(key)),
                        other => other,
                    };
                    (key, go(value))
                })
                .collect(),
        ),
        Expression::TemplateExpr(template) => match Template::from_expr(&template) {
            Ok(mut parsed) => {
                for element in parsed.elements_mut() {
                    if let Element::Interpolation(interpolation) = element {
                        interpolation.expr = go(interpolation.expr.clone());
                    }
                }
                match parsed.evaluate(ctx) {
                    Ok(value) => Expression::from(value),
                    Err(_) => Expression::TemplateExpr(template),
                }
            }
            Err(_) => Expression::TemplateExpr(template),
        },
        Expression::Traversal(mut traversal) => {
            traversal.expr = go(traversal.expr);
            for operator in &mut traversal.operators {
                if let TraversalOperator::Index(index) = operator {
                    *index = go(index.clone());
                }
            }
            Expression::Traversal(traversal)
        }
        Expression::Parenthesis(inner) => Expression::Parenthesis(Box::new(go(*inner))),
        Expression::Conditional(conditional) => {
            let Conditional {
                cond_expr,
                true_expr,
                false_expr,
            } = *conditional;
            Expression::Conditional(Box::new(Conditional {
                cond_expr: go(cond_expr),
                true_expr: go(true_expr),
                false_expr: go(false_expr),
            }))
        }
        Expression::Operation(operation) => Expression::Operation(Box::new(match *operation {
            Operation::Unary(mut unary) => {
                unary.expr = go(unary.expr);
                Operation::Unary(unary)
            }
            Operation::Binary(mut binary) => {
                binary.lhs_expr = go(binary.lhs_expr);
                binary.rhs_expr = go(binary.rhs_expr);
                Operation::Binary(binary)
            }
        })),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expression: &str) -> hcl::eval::EvalResult<Value> {
        let mut ctx = Context::new();
        for (name, def) in functions() {
            ctx.declare_func(name, def);
        }
        ctx.declare_var("known", Value::from("k"));
        ctx.declare_var("list", Value::Array(vec![Value::from("a")]));
        let expr: Expression = expression.parse().unwrap();
        evaluate(&expr, &ctx)
    }

    #[test]
    fn failures_fall_through() {
        assert_eq!(eval("try(missing, known)").unwrap(), Value::from("k"));
        assert_eq!(eval("try(list[3], list[0])").unwrap(), Value::from("a"));
        assert_eq!(eval("can(missing)").unwrap(), Value::Bool(false));
        assert_eq!(eval("can(list[0])").unwrap(), Value::Bool(true));
        assert_eq!(
            eval(r#""tag-${try(missing, "none")}""#).unwrap(),
            Value::from("tag-none")
        );
        assert_eq!(
            eval(r#"can(missing) ? "yes" : try(missing, ["x"])[0]"#).unwrap(),
            Value::from("x")
        );
        assert_eq!(
            eval("{ (try(missing, known)) = [try(list[1], 2)] }").unwrap(),
            serde_json::from_str::<Value>(r#"{"k":[2]}"#).unwrap()
        );
        // Inside a for expression, the eager twins: right when the arguments evaluate.
        assert_eq!(
            eval("[for v in list : try(v, known)]").unwrap(),
            Value::Array(vec![Value::from("a")])
        );
        assert!(eval("try(missing, also_missing)").is_err());
    }
}
