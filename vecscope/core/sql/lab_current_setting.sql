-- What a setting is in this transaction: proof the measured query ran with it.
SELECT current_setting(%(name)s) AS value
