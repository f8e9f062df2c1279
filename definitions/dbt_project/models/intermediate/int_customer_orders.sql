-- Orders that count towards revenue, with the customer they belong to.
select
    o.order_id,
    o.customer_id,
    c.customer_name,
    c.country_code,
    o.ordered_at,
    o.amount
from {{ ref('stg_orders') }} as o
inner join {{ ref('stg_customers') }} as c using (customer_id)
where o.status != 'returned'
