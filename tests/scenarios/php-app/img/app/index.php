<?php
// The client's order page: totals of a cart.
require __DIR__ . '/lib/cart.php';
header('Content-Type: application/json');
echo json_encode(['total' => cart_total([['price' => 12.5, 'quantity' => 2]])]);
