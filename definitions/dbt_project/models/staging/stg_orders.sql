select
    order_id,
    customer_id,
    ordered_at,
    lower(status) as status,
    amount_cents / 100.0 as amount
from {{ ref('raw_orders') }}
