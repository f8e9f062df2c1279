select 1 as id, 'hello from a leased user' as greeting
