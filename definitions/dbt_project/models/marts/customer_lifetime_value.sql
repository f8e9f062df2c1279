select
    customer_id,
    customer_name,
    country_code,
    count(*) as order_count,
    sum(amount) as lifetime_value,
    min(ordered_at) as first_order_at,
    max(ordered_at) as last_order_at
from {{ ref('int_customer_orders') }}
group by customer_id, customer_name, country_code
