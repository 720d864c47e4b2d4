//! Stripe's objects as the API (version [`super::API_VERSION`]) renders
//! them, with every field `async-stripe`'s types require.

use super::{id, Card, Params, Price};
use serde_json::{json, Map, Value};

/// The keys of `params` under `prefix`: `metadata[plan]` under `metadata`.
pub(super) fn nested(params: &Params, prefix: &str) -> Map<String, Value> {
    params
        .iter()
        .filter_map(|(key, value)| {
            let inner = key.strip_prefix(prefix)?.strip_prefix('[')?;
            let inner = inner.strip_suffix(']').filter(|k| !k.contains('['))?;
            Some((inner.to_owned(), Value::from(value.as_str())))
        })
        .collect()
}

/// The values of an array parameter (`name[0]`, `name[1]`, ...) in order.
pub(super) fn array(params: &Params, name: &str) -> Vec<String> {
    let mut items: Vec<(usize, String)> = params
        .iter()
        .filter_map(|(key, value)| {
            let index = key
                .strip_prefix(name)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            Some((index.parse().unwrap_or(usize::MAX), value.clone()))
        })
        .collect();
    items.sort();
    items.into_iter().map(|(_, value)| value).collect()
}

/// The fields of `parts`, and those named in `nulls` set to null: big objects
/// come in parts to keep `json!` under its recursion limit.
fn with_nulls<const N: usize>(parts: [Value; N], nulls: &str) -> Value {
    let mut object = Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            object.extend(fields);
        }
    }
    object.extend(
        nulls
            .split_whitespace()
            .map(|key| (key.to_owned(), Value::Null)),
    );
    Value::Object(object)
}

fn text(params: &Params, key: &str) -> Value {
    params
        .get(key)
        .map_or(Value::Null, |v| Value::from(v.as_str()))
}

pub(super) fn customer(id: &str, params: &Params, created: i64) -> Value {
    json!({
        "id": id, "object": "customer", "address": null, "balance": 0, "created": created,
        "currency": null, "default_source": null, "delinquent": false,
        "description": text(params, "description"), "discount": null,
        "email": text(params, "email"), "invoice_prefix": id[4..12].to_uppercase(),
        "invoice_settings": {"custom_fields": null, "default_payment_method": null,
            "footer": null, "rendering_options": null},
        "livemode": false, "metadata": nested(params, "metadata"), "name": text(params, "name"),
        "next_invoice_sequence": 1, "phone": text(params, "phone"), "preferred_locales": [],
        "shipping": null, "tax_exempt": "none", "test_clock": null,
    })
}

/// The payment methods asked for, by either name; `card` by default.
fn methods(params: &Params) -> Vec<String> {
    let mut methods = array(params, "payment_method_types");
    if methods.is_empty() {
        methods = array(params, "allowed_payment_method_types");
    }
    if methods.is_empty() {
        methods.push("card".into());
    }
    methods
}

/// `array(params, name)`, or null when absent.
fn array_or_null(params: &Params, name: &str) -> Value {
    Some(array(params, name))
        .filter(|a| !a.is_empty())
        .map_or(Value::Null, Value::from)
}

/// A Checkout Session as created; `amount` is that of a subscription's line.
pub(super) fn checkout_session(
    id: &str,
    url: &str,
    params: &Params,
    amount: Option<i64>,
    created: i64,
) -> Value {
    let mode = params.get("mode").map_or("", String::as_str);
    let currency = amount.map_or_else(|| text(params, "currency"), |_| "eur".into());
    let creation = if params.contains_key("customer") {
        Value::Null
    } else {
        "always".into()
    };
    let session = json!({
        "id": id, "object": "checkout.session", "amount_subtotal": amount,
        "amount_total": amount,
        "allowed_payment_method_types": array_or_null(params, "allowed_payment_method_types"),
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "cancel_url": text(params, "cancel_url"),
        "client_reference_id": text(params, "client_reference_id"), "created": created,
        "currency": currency, "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
            "terms_of_service_acceptance": null},
        "customer": text(params, "customer"), "customer_creation": creation,
        "customer_email": text(params, "customer_email"), "discounts": [],
        "expires_at": created + 24 * 3600, "livemode": false,
        "metadata": nested(params, "metadata"), "mode": mode,
        "payment_method_collection": "always", "payment_method_options": {},
        "payment_method_types": methods(params),
        "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
        "phone_number_collection": {"enabled": false}, "shipping_options": [],
        "status": "open", "success_url": text(params, "success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page", "url": format!("{url}/pay/{id}"),
    });
    let nulls = "
        adaptive_pricing after_expiration allow_promotion_codes billing_address_collection
        client_secret collected_information consent consent_collection customer_details
        excluded_payment_method_types invoice invoice_creation locale origin_context
        payment_intent payment_link payment_method_configuration_details permissions
        recovered_from saved_payment_method_options setup_intent shipping_address_collection
        shipping_cost submit_type subscription
    ";
    with_nulls([session], nulls)
}

pub(super) fn setup_intent(id: &str, params: &Params, created: i64) -> Value {
    json!({
        "id": id, "object": "setup_intent", "application": null,
        "allowed_payment_method_types": array_or_null(params, "allowed_payment_method_types"),
        "automatic_payment_methods": null, "cancellation_reason": null,
        "client_secret": format!("{id}_secret_{}", &super::id("", 24)),
        "created": created, "customer": text(params, "customer"),
        "description": text(params, "description"), "flow_directions": null,
        "last_setup_error": null, "latest_attempt": null, "livemode": false, "mandate": null,
        "metadata": nested(params, "metadata"), "next_action": null, "on_behalf_of": null,
        "payment_method": null, "payment_method_configuration_details": null,
        "payment_method_options": {"card": {"mandate_options": null, "network": null,
            "request_three_d_secure": "automatic"}},
        "payment_method_types": methods(params), "single_use_mandate": null,
        "status": "requires_payment_method",
        "usage": params.get("usage").map_or("off_session", String::as_str),
    })
}

pub(super) fn payment_method(customer: &str, card: &Card, created: i64) -> Value {
    json!({
        "id": id("pm_", 24), "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {"address": {"city": null, "country": null, "line1": null,
            "line2": null, "postal_code": null, "state": null},
            "email": null, "name": null, "phone": null, "tax_id": null},
        "card": {"brand": card.brand, "checks": {"address_line1_check": null,
                "address_postal_code_check": null, "cvc_check": "pass"},
            "country": "US", "display_brand": card.brand, "exp_month": card.exp_month,
            "exp_year": card.exp_year, "fingerprint": format!("{}{}", card.brand, card.last4),
            "funding": "credit", "generated_from": null, "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": null},
            "regulated_status": "unregulated", "three_d_secure_usage": {"supported": true},
            "wallet": null},
        "created": created, "customer": customer, "livemode": false, "metadata": {},
        "type": "card",
    })
}

fn price(id: &str, price: &Price) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": price.created, "currency": "eur", "custom_unit_amount": null,
        "livemode": false, "lookup_key": null, "metadata": {}, "nickname": null,
        "product": price.product, "recurring": {"interval": "month", "interval_count": 1,
            "meter": null, "trial_period_days": null, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
        "type": "recurring", "unit_amount": price.unit_amount,
        "unit_amount_decimal": price.unit_amount.to_string(),
    })
}

fn plan(id: &str, price: &Price) -> Value {
    json!({
        "id": id, "object": "plan", "active": true, "amount": price.unit_amount,
        "amount_decimal": price.unit_amount.to_string(), "billing_scheme": "per_unit",
        "created": price.created, "currency": "eur", "interval": "month", "interval_count": 1,
        "livemode": false, "metadata": {}, "meter": null, "nickname": null,
        "product": price.product, "tiers_mode": null, "transform_usage": null,
        "trial_period_days": null, "usage_type": "licensed",
    })
}

/// The subscription's single item, billed monthly from `start`.
pub(super) fn items(sub: &str, price_id: &str, p: &Price, quantity: u64, start: i64) -> Value {
    json!({
        "object": "list", "has_more": false, "total_count": 1,
        "url": format!("/v1/subscription_items?subscription={sub}"),
        "data": [{
            "id": id("si_", 14), "object": "subscription_item", "billing_thresholds": null,
            "created": start, "current_period_end": start + 30 * 24 * 3600,
            "current_period_start": start, "discounts": [], "metadata": {},
            "plan": plan(price_id, p), "price": price(price_id, p), "quantity": quantity,
            "subscription": sub, "tax_rates": [],
        }],
    })
}

pub(super) struct NewSubscription<'a> {
    pub customer: &'a str,
    pub payment_method: &'a str,
    pub invoice: &'a str,
    pub items: Value,
    pub metadata: Value,
    pub created: i64,
}

pub(super) fn subscription(id: &str, new: NewSubscription<'_>) -> Value {
    let subscription = json!({
        "id": id, "object": "subscription",
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
        "billing_cycle_anchor": new.created,
        "billing_mode": {"flexible": null, "type": "classic"}, "billing_schedules": [],
        "cancel_at_period_end": false,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically", "created": new.created,
        "currency": "eur", "customer": new.customer,
        "default_payment_method": new.payment_method, "default_tax_rates": [], "discounts": [],
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": new.items, "latest_invoice": new.invoice, "livemode": false,
        "metadata": new.metadata,
        "payment_settings": {"payment_method_options": null, "payment_method_types": null,
            "save_default_payment_method": "off"},
        "start_date": new.created, "status": "active",
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
    });
    let nulls = "
        application application_fee_percent billing_cycle_anchor_config billing_thresholds
        cancel_at canceled_at days_until_due default_source description ended_at
        next_pending_invoice_item_invoice on_behalf_of pause_collection
        pending_invoice_item_interval pending_setup_intent pending_update schedule test_clock
        transfer_data trial_end trial_start
    ";
    with_nulls([subscription], nulls)
}

/// The invoice of `sub`'s current period: paid, or open after a failed attempt.
pub(super) fn invoice(id: &str, sub: &Value, paid: bool, created: i64) -> Value {
    let item = &sub["items"]["data"][0];
    let amount =
        item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1);
    let (start, end) = (&item["current_period_start"], &item["current_period_end"]);
    let (paid_amount, due) = if paid { (amount, 0) } else { (0, amount) };
    let line = json!({
        "id": super::id("il_", 24), "object": "line_item", "amount": amount,
        "currency": "eur", "description": format!("1 × {}", item["price"]["id"]),
        "discount_amounts": [], "discountable": true, "discounts": [], "invoice": id,
        "livemode": false, "metadata": {},
        "parent": {"invoice_item_details": null, "type": "subscription_item_details",
            "subscription_item_details": {"invoice_item": null, "proration": false,
                "proration_details": {"credited_items": null},
                "subscription": sub["id"], "subscription_item": item["id"]}},
        "period": {"end": end, "start": start}, "pretax_credit_amounts": [],
        "pricing": {"price_details": {"price": item["price"]["id"],
                "product": item["price"]["product"]},
            "type": "price_details", "unit_amount_decimal": item["price"]["unit_amount_decimal"]},
        "quantity": item["quantity"], "subtotal": amount, "taxes": [],
    });
    let amounts = json!({
        "amount_due": amount, "amount_overpaid": 0,
        "amount_paid": paid_amount, "amount_remaining": due, "amount_shipping": 0,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0, "ending_balance": 0, "subtotal": amount,
        "subtotal_excluding_tax": amount, "total": amount, "total_discount_amounts": [],
        "total_excluding_tax": amount, "total_pretax_credit_amounts": [], "total_taxes": [],
    });
    let invoice = json!({
        "id": id, "object": "invoice", "account_country": "DE", "account_name": "Sluice",
        "attempt_count": 1, "attempted": true, "auto_advance": !paid,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null,
            "provider": null, "status": null},
        "billing_reason": if paid { "subscription_create" } else { "subscription_cycle" },
        "collection_method": "charge_automatically", "created": created, "currency": "eur",
        "customer": sub["customer"], "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_tax_rates": [], "discounts": [], "effective_at": created,
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/{id}"),
        "invoice_pdf": format!("https://pay.stripe.com/invoice/{id}/pdf"),
        "issuer": {"type": "self"},
        "lines": {"object": "list", "data": [line], "has_more": false, "total_count": 1,
            "url": format!("/v1/invoices/{id}/lines")},
        "livemode": false, "metadata": {},
        "next_payment_attempt": if paid { Value::Null } else { (created + 3 * 24 * 3600).into() },
        "number": format!("{}-0001", &id[3..11].to_uppercase()),
        "parent": {"quote_details": null, "type": "subscription_details",
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]}},
        "payment_settings": {"default_mandate": null, "payment_method_options": null,
            "payment_method_types": null},
        "period_end": end, "period_start": start,
        "status": if paid { "paid" } else { "open" },
        "status_transitions": {"finalized_at": created, "marked_uncollectible_at": null,
            "paid_at": if paid { Value::from(created) } else { Value::Null }, "voided_at": null},
        "webhooks_delivered_at": created,
    });
    let nulls = "
        account_tax_ids application automatically_finalizes_at custom_fields customer_address
        customer_email customer_name customer_phone customer_shipping default_payment_method
        default_source description due_date footer from_invoice last_finalization_error
        latest_revision on_behalf_of receipt_number rendering shipping_cost shipping_details
        statement_descriptor test_clock
    ";
    with_nulls([invoice, amounts], nulls)
}
