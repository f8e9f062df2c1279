-- A customer with orders has spent something.
select customer_id, lifetime_value
from {{ ref('customer_lifetime_value') }}
where lifetime_value <= 0
