-- The long report that holds a snapshot open while the demo's concurrent build waits.
SELECT count(*) FROM search."Product Embeddings"
