-- The embedded server's shared_preload_libraries, to add the libraries it should preload.
SELECT current_setting('shared_preload_libraries') AS libraries
