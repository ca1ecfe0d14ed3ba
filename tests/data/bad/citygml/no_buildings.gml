<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:tran="http://www.opengis.net/citygml/transportation/2.0" xmlns:gml="http://www.opengis.net/gml">
<core:cityObjectMember><tran:Road gml:id="R1"><tran:function>1000</tran:function></tran:Road></core:cityObjectMember>
</core:CityModel>
