-- deepcee survey images=FOLDER|LIST.csv | ra_min= ra_max= dec_min= dec_max= [out=survey-out threshold=0.5 ...]
-- The detector over a whole survey, one merged catalogue; resumable; `mpirun -np N deepcee survey ...`
-- shares the fields over N ranks. See lua/survey.lua.
local util = require("deepcee_util")
local survey = require("survey")
survey.run(util.args(survey.defaults, {...}, "survey", survey.ranges))
