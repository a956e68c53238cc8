-- Loads the embedded datasets into the current database (psql script).
-- Run from the repository root: psql -f test/data/load.sql
-- Each table holds the dataset's features as float8 columns and its
-- label in column target; see test/data/README.md for sources and licences.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS breast_cancer;
CREATE TABLE breast_cancer (
    mean_radius float8,
    mean_texture float8,
    mean_perimeter float8,
    mean_area float8,
    mean_smoothness float8,
    mean_compactness float8,
    mean_concavity float8,
    mean_concave_points float8,
    mean_symmetry float8,
    mean_fractal_dimension float8,
    radius_error float8,
    texture_error float8,
    perimeter_error float8,
    area_error float8,
    smoothness_error float8,
    compactness_error float8,
    concavity_error float8,
    concave_points_error float8,
    symmetry_error float8,
    fractal_dimension_error float8,
    worst_radius float8,
    worst_texture float8,
    worst_perimeter float8,
    worst_area float8,
    worst_smoothness float8,
    worst_compactness float8,
    worst_concavity float8,
    worst_concave_points float8,
    worst_symmetry float8,
    worst_fractal_dimension float8,
    target int NOT NULL
);
\copy breast_cancer FROM 'test/data/breast_cancer.csv' WITH (FORMAT csv, HEADER true)
DROP TABLE IF EXISTS wine;
CREATE TABLE wine (
    alcohol float8,
    malic_acid float8,
    ash float8,
    alcalinity_of_ash float8,
    magnesium float8,
    total_phenols float8,
    flavanoids float8,
    nonflavanoid_phenols float8,
    proanthocyanins float8,
    color_intensity float8,
    hue float8,
    od280_od315_of_diluted_wines float8,
    proline float8,
    target int NOT NULL
);
\copy wine FROM 'test/data/wine.csv' WITH (FORMAT csv, HEADER true)
DROP TABLE IF EXISTS diabetes;
CREATE TABLE diabetes (
    age float8,
    sex float8,
    bmi float8,
    bp float8,
    s1 float8,
    s2 float8,
    s3 float8,
    s4 float8,
    s5 float8,
    s6 float8,
    target float8 NOT NULL
);
\copy diabetes FROM 'test/data/diabetes.csv' WITH (FORMAT csv, HEADER true)
RESET client_min_messages;
-- psql's default again: a suite that includes this script goes on past an error it shows
\set ON_ERROR_STOP 0
