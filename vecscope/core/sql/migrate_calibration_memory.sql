-- The calibration build's memory (a composed literal such as '65536kB').
SET LOCAL maintenance_work_mem = {mwm}
