<?php
// The site installed once, at build time, with a fixed first post.
$_SERVER['HTTP_HOST'] = 'app';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install('Linen & Oak journal', 'editor', 'editor@example.org', true, '', 'editor-site-pass');
// Fixed dates: the copies are built at different times, and their content must not say so.
global $wpdb;
$when = '2026-01-08 10:00:00';
$wpdb->query("UPDATE {$wpdb->posts} SET post_date='$when', post_date_gmt='$when', post_modified='$when', post_modified_gmt='$when'");
$wpdb->query("UPDATE {$wpdb->comments} SET comment_date='$when', comment_date_gmt='$when'");
$wpdb->query("UPDATE {$wpdb->users} SET user_registered='$when'");
