-- Recipes. The document is stored whole; the columns searches use are derived
-- from it by immutable functions, so they can never disagree with it.
CREATE FUNCTION recipe_ingredient_names(doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(lower(i->>'name')), '{}')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc->'ingredients') = 'array'
                                   THEN doc->'ingredients' ELSE '[]' END) AS i
$$;

CREATE FUNCTION recipe_tags(doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(lower(t)), '{}')
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(doc->'tags') = 'array'
                                        THEN doc->'tags' ELSE '[]' END) AS t
$$;

CREATE TABLE recipes (
    id               uuid PRIMARY KEY,
    doc              jsonb NOT NULL,
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    search_text      text GENERATED ALWAYS AS
                     (lower(coalesce(doc->>'title', '') || ' ' || coalesce(doc->>'description', '')))
                     STORED,
    ingredient_names text[] GENERATED ALWAYS AS (recipe_ingredient_names(doc)) STORED,
    tags             text[] GENERATED ALWAYS AS (recipe_tags(doc)) STORED
);

-- ingredient= and tag= are exact (case-insensitive) names: array containment.
CREATE INDEX recipes_ingredient_names ON recipes USING gin (ingredient_names);
CREATE INDEX recipes_tags ON recipes USING gin (tags);
-- q= is a substring of title or description.
CREATE INDEX recipes_search_text ON recipes USING gin (search_text gin_trgm_ops);
-- Listing and keyset pagination.
CREATE INDEX recipes_created_at_id ON recipes (created_at, id);
