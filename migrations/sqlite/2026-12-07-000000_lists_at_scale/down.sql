DROP TABLE article_search;
DROP TABLE article_stats;
DROP INDEX articles_created_at;
