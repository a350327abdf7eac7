<?php
// Written for PHP 8.2: a parameter that defaults to null without saying it is nullable.
class Discount { public float $rate = 0.1; }

function cart_total(array $items, Discount $discount = null): float
{
    $sum = 0.0;
    foreach ($items as $item) {
        $sum += $item['price'] * $item['quantity'];
    }
    return $discount ? $sum * (1 - $discount->rate) : $sum;
}
