//! Who may do what, in a handler's signature: a handler that takes
//! [`AccountAdmin<W>`] runs only for the account's owners and admins, one
//! that takes [`AccountOwner<W>`] only for its owner. `W` names the work,
//! so that a refusal says what the caller may not do.

use super::{AuthUser, Role};
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::marker::PhantomData;

/// Work that only some roles may do; `WHAT` completes "only owners and
/// admins …" (or "only the owner …").
pub trait Work {
    const WHAT: &'static str;
}

macro_rules! work {
    ($($(#[$doc:meta])* $name:ident => $what:literal;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Work for $name {
                const WHAT: &'static str = $what;
            }
        )*
    };
}

work! {
    /// Defining, changing and deleting jobs.
    ManageJobs => "define and delete jobs";
    /// Saving and deleting mapping templates.
    ManageTemplates => "save and delete mapping templates";
    /// Adding, testing and removing connections.
    ManageConnections => "manage connections";
    /// Checkout, the billing portal, plan changes through Stripe.
    ManageBilling => "manage the account's billing";
    /// The account's name, region, retention and plan settings.
    ChangeSettings => "change the account's settings";
    /// A copy of everything the account holds.
    ExportData => "export the account's data";
    /// A rollback over rows changed since the run.
    ForceRollback => "force a rollback";
    /// Erasing the account and everything in it.
    EraseAccount => "erase the account";
}

/// The signed-in user, who is an owner or an admin of their account.
#[derive(Debug, Clone)]
pub struct AccountAdmin<W> {
    pub user: AuthUser,
    work: PhantomData<W>,
}

/// The signed-in user, who is their account's owner.
#[derive(Debug, Clone)]
pub struct AccountOwner<W> {
    pub user: AuthUser,
    work: PhantomData<W>,
}

impl AuthUser {
    /// Whether this user manages the account (an owner or an admin).
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    /// This user as a manager of the account, for `W`; a member is refused.
    pub fn admin_for<W: Work>(self) -> Result<AccountAdmin<W>, ApiError> {
        if self.is_admin() {
            Ok(AccountAdmin {
                user: self,
                work: PhantomData,
            })
        } else {
            Err(ApiError::Forbidden(format!(
                "only owners and admins {}",
                W::WHAT
            )))
        }
    }

    /// This user as the account's owner, for `W`; anyone else is refused.
    pub fn owner_for<W: Work>(self) -> Result<AccountOwner<W>, ApiError> {
        if self.role == Role::Owner {
            Ok(AccountOwner {
                user: self,
                work: PhantomData,
            })
        } else {
            Err(ApiError::Forbidden(format!(
                "only the owner may {}",
                W::WHAT
            )))
        }
    }
}

impl<W: Work + 'static> FromRequest for AccountAdmin<W> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { user.await?.admin_for::<W>() })
    }
}

impl<W: Work + 'static> FromRequest for AccountOwner<W> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { user.await?.owner_for::<W>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_schema::ids::{AccountId, TokenId, UserId};

    fn user(role: Role) -> AuthUser {
        AuthUser {
            user_id: UserId::new(),
            account_id: AccountId::new(),
            role,
            token_id: TokenId::new(),
        }
    }

    #[test]
    fn owners_and_admins_manage_and_members_are_told_what_they_may_not_do() {
        assert!(user(Role::Owner).admin_for::<ManageJobs>().is_ok());
        assert!(user(Role::Admin).admin_for::<ManageJobs>().is_ok());
        let refused = user(Role::Member).admin_for::<ManageJobs>().unwrap_err();
        assert_eq!(
            refused.to_string(),
            "only owners and admins define and delete jobs"
        );
    }

    #[test]
    fn only_the_owner_is_the_owner() {
        assert!(user(Role::Owner).owner_for::<EraseAccount>().is_ok());
        for role in [Role::Admin, Role::Member] {
            let refused = user(role).owner_for::<EraseAccount>().unwrap_err();
            assert_eq!(refused.to_string(), "only the owner may erase the account");
        }
    }
}
