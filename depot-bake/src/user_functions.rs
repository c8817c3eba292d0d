//! User `function` blocks (`params`, optional `variadic_params`, `result`), callable from every
//! expression like the standard functions.
//!
//! hcl-rs calls functions through plain `fn` pointers, which cannot carry a function's
//! definition; so each user function is given one of a fixed set of trampolines, which finds
//! its definition, and the variables it may use, in this thread's evaluation state (bake files
//! are evaluated on one thread, from start to end).

use std::cell::RefCell;

use hcl::eval::{Context, Func, FuncArgs, FuncDef, ParamType};
use hcl::{Expression, Value};

/// A user function.
#[derive(Clone, Debug)]
pub(crate) struct UserFunction {
    pub name: String,
    pub params: Vec<String>,
    pub variadic: Option<String>,
    pub result: Expression,
}

/// How deeply user functions may call each other (a cycle is an error, not a crash).
const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct State {
    functions: Vec<UserFunction>,
    /// The variables user functions see (those resolved so far).
    globals: Vec<(String, Value)>,
    depth: usize,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Installs `functions` for this thread's evaluation (the variables come later, with
/// [`set_globals`]); cleared by [`clear`].
pub(crate) fn install(functions: Vec<UserFunction>) -> Result<(), String> {
    if functions.len() > TRAMPOLINES.len() {
        return Err(format!(
            "a bake definition has at most {} user functions",
            TRAMPOLINES.len()
        ));
    }
    STATE.with(|state| {
        *state.borrow_mut() = State {
            functions,
            ..State::default()
        }
    });
    Ok(())
}

/// The variables user functions see from now on.
pub(crate) fn set_globals(globals: Vec<(String, Value)>) {
    STATE.with(|state| state.borrow_mut().globals = globals);
}

/// Forgets the installed functions.
pub(crate) fn clear() {
    STATE.with(|state| *state.borrow_mut() = State::default());
}

/// Declares the installed user functions in `ctx`.
pub(crate) fn declare(ctx: &mut Context<'_>) {
    STATE.with(|state| {
        for (index, function) in state.borrow().functions.iter().enumerate() {
            let mut def = FuncDef::builder().params(vec![ParamType::Any; function.params.len()]);
            if function.variadic.is_some() {
                def = def.variadic_param(ParamType::Any);
            }
            ctx.declare_func(function.name.as_str(), def.build(TRAMPOLINES[index]));
        }
    });
}

fn call(index: usize, args: FuncArgs) -> Result<Value, String> {
    let (function, globals) = STATE.with(|state| {
        let mut state = state.borrow_mut();
        state.depth += 1;
        (state.functions[index].clone(), state.globals.clone())
    });
    let result = evaluate(&function, globals, args);
    STATE.with(|state| state.borrow_mut().depth -= 1);
    result
}

fn evaluate(
    function: &UserFunction,
    globals: Vec<(String, Value)>,
    args: FuncArgs,
) -> Result<Value, String> {
    if STATE.with(|state| state.borrow().depth) > MAX_DEPTH {
        return Err(format!("function cycle not allowed for {}", function.name));
    }
    let mut ctx = Context::new();
    crate::functions::declare(&mut ctx);
    declare(&mut ctx);
    for (name, value) in globals {
        ctx.declare_var(name, value);
    }
    let values = args.into_values();
    let (positional, rest) = values.split_at(function.params.len().min(values.len()));
    for (name, value) in function.params.iter().zip(positional) {
        ctx.declare_var(name.as_str(), value.clone());
    }
    if let Some(variadic) = &function.variadic {
        ctx.declare_var(variadic.as_str(), Value::Array(rest.to_vec()));
    }
    crate::try_can::evaluate(&function.result, &ctx).map_err(|err| err.to_string())
}

macro_rules! trampolines {
    ($($index:literal)*) => {
        /// One entry point per user function.
        const TRAMPOLINES: &[Func] = &[$(|args| call($index, args)),*];
    };
}

trampolines!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
