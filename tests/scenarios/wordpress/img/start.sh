# The site's database, then the site (four PHP workers: requests do not queue behind one).
mariadbd --user=mysql &
PHP_CLI_SERVER_WORKERS=4 exec php -S 0.0.0.0:8000 -t /usr/share/wordpress
