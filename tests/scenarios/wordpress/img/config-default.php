<?php
define('DB_NAME', 'wp');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp-site-pass');
define('DB_HOST', 'localhost');
define('WP_CONTENT_DIR', '/var/lib/wordpress/wp-content');
define('WP_HOME', 'http://app:8000');
define('WP_SITEURL', 'http://app:8000');
$table_prefix = 'wp_';
