//! A fn whose body ends in `Box::pin(async move { .. })`, taken apart;
//! `#[async_trait]`'s declarations at the top of its block.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::{Block, Expr, Ident, Pat, Signature, Stmt};

use super::owned::{cfgs, own};
use super::{FutureBody, Owned};

/// A body that ends in `Box::pin(async move { .. })`, taken apart.
pub(super) fn future_body(sig: &Signature, body: &TokenStream) -> Option<FutureBody> {
    let mut before = (|input: ParseStream<'_>| Block::parse_within(input))
        .parse2(body.clone())
        .ok()?;
    let Some(Stmt::Expr(Expr::Call(call), None)) = before.last() else {
        return None;
    };
    let is_pin = matches!(&*call.func, Expr::Path(path)
        if path.path.segments.last().is_some_and(|s| s.ident == "pin"));
    if !is_pin || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(inner)) = call.args.first() else {
        return None;
    };
    let pin = (*call.func).clone();
    let mut stmts = inner.block.stmts.clone();
    before.pop();
    // `#[async_trait]` declares the parameters at the top of the block.
    let decls = if is_async_trait(sig) {
        let count = stmts.iter().take_while(|stmt| is_decl(stmt)).count();
        stmts.drain(..count).collect()
    } else {
        Vec::new()
    };
    Some(FutureBody {
        before,
        pin,
        decls,
        rest: stmts,
    })
}

/// `#[async_trait]` names the lifetime of the future it makes
/// `'async_trait`.
pub(super) fn is_async_trait(sig: &Signature) -> bool {
    sig.generics
        .lifetimes()
        .any(|param| param.lifetime.ident == "async_trait")
}

/// One of `#[async_trait]`'s declarations: `let x = x;`, `let __self =
/// self;`, `let (a, b) = { let __arg1 = __arg1; __arg1 };`, or its
/// `if let Some(__ret) = None::<Ret> { return __ret; }` type hint.
pub(super) fn is_decl(stmt: &Stmt) -> bool {
    /// The identifier a path expression is, if it is one.
    fn ident(expr: &Expr) -> Option<&Ident> {
        match expr {
            Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
            _ => None,
        }
    }
    let is_arg = |ident: &Ident| ident.to_string().starts_with("__arg");
    match stmt {
        Stmt::Local(local) => {
            let Some(init) = local.init.as_ref().filter(|init| init.diverge.is_none()) else {
                return false;
            };
            let bound = match &local.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some(&pat.ident),
                _ => None,
            };
            match &*init.expr {
                // `let __self = self;`
                Expr::Path(path) if path.path.is_ident("self") => {
                    bound.is_some_and(|bound| bound == "__self")
                }
                // `let x = x;`, `let __arg1 = __arg1;`
                expr @ Expr::Path(_) => bound.is_some_and(|bound| ident(expr) == Some(bound)),
                // `let (a, b) = { let __arg1 = __arg1; __arg1 };`
                Expr::Block(block) => match block.block.stmts.as_slice() {
                    [Stmt::Local(inner), Stmt::Expr(last, None)] => {
                        let inner_bound = match &inner.pat {
                            Pat::Ident(pat) => Some(&pat.ident),
                            _ => None,
                        };
                        inner_bound.is_some_and(|arg| {
                            is_arg(arg)
                                && inner.init.as_ref().and_then(|init| ident(&init.expr))
                                    == Some(arg)
                                && ident(last) == Some(arg)
                        })
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        // `if let Some(__ret) = None::<Ret> { return __ret; }`, exactly.
        Stmt::Expr(Expr::If(expr), _) => {
            let Expr::Let(cond) = &*expr.cond else {
                return false;
            };
            let binds_ret = matches!(&*cond.pat, Pat::TupleStruct(some)
                if some.path.segments.last().is_some_and(|last| last.ident == "Some")
                    && matches!(some.elems.iter().collect::<Vec<_>>().as_slice(),
                        [Pat::Ident(ret)] if ret.ident == "__ret"));
            let is_none = matches!(&*cond.expr, Expr::Path(path)
                if path.path.segments.last().is_some_and(|last| last.ident == "None"));
            let returns_ret = matches!(expr.then_branch.stmts.as_slice(),
                [Stmt::Expr(Expr::Return(ret), _)]
                    if ret.expr.as_deref().and_then(ident).is_some_and(|ret| ret == "__ret"));
            binds_ret && is_none && returns_ret && expr.else_branch.is_none()
        }
        _ => false,
    }
}

/// The bindings one of `#[async_trait]`'s declarations makes (a `_` in its
/// pattern named, so that part too is dropped under the lock).
pub(super) fn declared(stmt: &mut Stmt, owned: &mut Vec<Owned>) {
    if let Stmt::Local(local) = stmt {
        let cfgs = cfgs(&local.attrs);
        own(&mut local.pat, &cfgs, false, owned);
    }
}
