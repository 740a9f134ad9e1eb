-- Where the server keeps its data (the free-space check, on a local server).
SELECT current_setting('data_directory') AS path
