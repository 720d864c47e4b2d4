//! How many uploads each user is sending at once. A slot is held while a
//! body is received and given back when the request ends, however it ends.

use crate::error::ApiError;
use sluice_schema::ids::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct InFlight {
    limit: usize,
    users: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// A user's slot; dropping it gives it back.
pub struct Slot {
    user: UserId,
    users: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl InFlight {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            users: Arc::default(),
        }
    }

    /// A slot for `user`, or 429 while the user sends `limit` uploads.
    pub fn acquire(&self, user: UserId) -> Result<Slot, ApiError> {
        let mut users = self
            .users
            .lock()
            .map_err(|_| ApiError::Internal("upload slots poisoned".into()))?;
        let sending = users.entry(user).or_default();
        if *sending >= self.limit {
            return Err(ApiError::TooManyAtOnce(format!(
                "at most {} uploads of one user are received at once; wait for one to finish",
                self.limit
            )));
        }
        *sending += 1;
        Ok(Slot {
            user,
            users: self.users.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut users) = self.users.lock() {
            if let Some(sending) = users.get_mut(&self.user) {
                *sending = sending.saturating_sub(1);
                if *sending == 0 {
                    users.remove(&self.user);
                }
            }
        }
    }
}
